"""Measurement: how large an incident's workflow history grows, and the continue-as-new threshold
that implies.

A slow SEV3 incident (three steps, an approval nobody gives for three days, a status update
every 4 h and a note a day) runs on the time-skipping test server, once closed at once and
once after three days: bytes and events per incident, per status update, per day, and how
many days each severity's cadence takes to reach CONTINUE_AFTER_EVENTS.

Then the worst case for size: a 20-step incident whose steps each get a 1 MiB JSON body.

Before the data-flow rules (inputs carry only what their templates reference, results cut to
64 KiB or kept to their `outputs`), such an incident never finished: the third step's input
passed Temporal's 2 MiB payload limit. Prints the history's size, event count and largest
event for both shapes: steps that pass on a value they select (`outputs`), and steps that
declare nothing (results cut).
Results go to bench/results/history_size.json with the machine they were measured on.
Usage: .venv/bin/python -m bench.history_size [--steps 20] [--body-kib 1024] [--days 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.machine import dev_server, run, write_results
from warroom.contract import search_attributes
from warroom.contract.client import installed_binary
from warroom.contract.converter import data_converter
from warroom.contract.models import Decision, Note
from warroom.entry.jsonserver import JsonServer, Reply
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook
from warroom.language.runbook import DEFAULT_CADENCE
from worker import build_worker
from workflows.incident import CONTINUE_AFTER_EVENTS, IncidentWorkflow

SLOW_SEV3 = """
name: slow-sev3
title: Slow SEV3
severity: SEV3
updates:
  - {action: webhook.post, with: {url: "{{ secret.BENCH_URL }}/small"}}
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "{{ secret.BENCH_URL }}/small"}}
  - id: fix
    phase: mitigate
    approval: {approvers: [carol]}
    action: http.request
    with: {method: POST, url: "{{ secret.BENCH_URL }}/small"}
  - {id: verify, phase: verify, action: http.request, with: {url: "{{ secret.BENCH_URL }}/small"}}
"""


def runbook_text(steps: int, with_outputs: bool) -> str:
    """Each step GETs the big body; with outputs, each keeps `version` and passes it on."""
    lines = ["name: history-size", "title: History size", "cadence: {SEV2: 1h}", "steps:"]
    for i in range(steps):
        with_ = 'url: "{{ secret.BENCH_URL }}/big"'
        extra = ""
        if with_outputs:
            extra = ', outputs: {version: "{{ result.json.version }}"}'
            if i:
                with_ += f', headers: {{x-previous: "{{{{ steps.s{i - 1}.version }}}}"}}'
        lines.append(
            f"  - {{id: s{i}, phase: triage, action: http.request, with: {{{with_}}}{extra}}}"
        )
    return "\n".join(lines)


async def measure(client: Client, steps: int, with_outputs: bool) -> tuple[int, int, int]:
    runbook = parse_runbook(runbook_text(steps, with_outputs))
    incident_id = await declare(client, runbook, "history size", declared_by="bench")
    handle = client.get_workflow_handle(incident_id)
    state = await handle.result()
    if state["status"] != "resolved":
        raise SystemExit(f"the incident did not resolve: {state}")
    sizes = [event.ByteSize() async for event in handle.fetch_history_events()]
    return sum(sizes), len(sizes), max(sizes)


async def history(client: Client, incident_id: str) -> tuple[int, int]:
    """Bytes and events of the incident's latest run."""
    handle = client.get_workflow_handle(incident_id)
    sizes = [event.ByteSize() async for event in handle.fetch_history_events()]
    return sum(sizes), len(sizes)


async def slow_sev3(env: WorkflowEnvironment, days: int) -> dict[str, Any]:
    """A SEV3 incident left waiting for its approval `days` days, a note a day, then approved."""
    client = env.client
    incident_id = await declare(client, parse_runbook(SLOW_SEV3), "slow burn", declared_by="bench")
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
    for day in range(days):
        await env.sleep(timedelta(days=1))
        await handle.signal(
            IncidentWorkflow.note, Note(by="bench", text=f"day {day + 1}: still slow")
        )
    for _ in range(400):  # the gate is reached within seconds; a bound, not a timing
        if (await handle.query(IncidentWorkflow.status)).status == "awaiting_approval":
            break
        await asyncio.sleep(0.05)
    await handle.signal(IncidentWorkflow.approve, Decision(step="fix", by="carol"))
    state = await handle.result()
    if state.status != "resolved":
        raise SystemExit(f"the incident did not resolve: {state.status}")
    total, events = await history(client, incident_id)
    return {"days": days, "bytes": total, "events": events, "updates": state.updates_posted}


async def growth(days: int) -> dict[str, Any]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=data_converter(),
    )
    await search_attributes.register(env.client)
    async with env, build_worker(env.client):
        at_once = await slow_sev3(env, 0)
        later = await slow_sev3(env, days)
    per_update = (later["events"] - at_once["events"]) / (later["updates"] - at_once["updates"])
    bytes_per_event = later["bytes"] / later["events"]
    days_to_continue = {
        severity: round(
            (CONTINUE_AFTER_EVENTS - at_once["events"])
            / (per_update * timedelta(days=1) / cadence),
            1,
        )
        for severity, cadence in DEFAULT_CADENCE.items()
    }
    return {
        "server": "time-skipping test server; it keeps no user metadata (step summaries), "
        "so bytes are a lower bound",
        "closed_at_once": at_once,
        f"after_{days}_days": later,
        "events_per_status_update": round(per_update, 1),
        "bytes_per_event": round(bytes_per_event),
        "continue_after_events": CONTINUE_AFTER_EVENTS,
        "bytes_at_continue_as_new": round(CONTINUE_AFTER_EVENTS * bytes_per_event),
        "days_to_continue_as_new": days_to_continue,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--body-kib", type=int, default=1024)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    body = {"version": "v42", "rows": ["x" * 1000] * args.body_kib}
    service = JsonServer(lambda r: Reply(200, body if r.path == "/big" else {"ok": True}))
    service.start()
    os.environ["WARROOM_SECRET_BENCH_URL"] = service.url
    results: dict[str, Any] = {}
    print(f"a SEV3 incident waiting {args.days} days for its approval (time-skipping server)")
    results["slow_sev3"] = slow = await growth(args.days)
    print(json.dumps(slow, indent=2), flush=True)
    env = await dev_server()
    try:
        async with env, build_worker(env.client):
            print(f"{args.steps} steps, each answered with a {args.body_kib} KiB JSON body")
            for label, with_outputs in (("with outputs", True), ("without outputs", False)):
                total, events, largest = await measure(env.client, args.steps, with_outputs)
                results[f"big_bodies_{label.replace(' ', '_')}"] = {
                    "steps": args.steps,
                    "body_kib": args.body_kib,
                    "bytes": total,
                    "events": events,
                    "largest_event_bytes": largest,
                }
                print(
                    f"  {label:<16} history {total / 1024:8.1f} KiB in {events} events,"
                    f" largest event {largest / 1024:.1f} KiB",
                    flush=True,
                )
    finally:
        service.stop()
    print(f"results: {write_results('history_size', results)}")


if __name__ == "__main__":
    run(main())
