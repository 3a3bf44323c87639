"""Measurement: the workflow history of a 20-step incident whose steps each get a 1 MiB JSON body.

Before the data-flow rules (inputs carry only what their templates reference, results cut to
64 KiB or kept to their `outputs`), such an incident never finished: the third step's input
passed Temporal's 2 MiB payload limit. Prints the history's size, event count and largest
event for both shapes: steps that pass on a value they select (`outputs`), and steps that
declare nothing (results cut).
Usage: .venv/bin/python -m bench.history_size [--steps 20] [--body-kib 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from warroom import incidents, search_attributes
from warroom.devstack import installed_binary
from warroom.jsonserver import JsonServer, Reply
from warroom.language.loader import parse_runbook
from worker import build_worker


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
    incident_id = await incidents.declare(client, runbook, "history size", declared_by="bench")
    handle = client.get_workflow_handle(incident_id)
    state = await handle.result()
    if state["status"] != "resolved":
        raise SystemExit(f"the incident did not resolve: {state}")
    sizes = [event.ByteSize() async for event in handle.fetch_history_events()]
    return sum(sizes), len(sizes), max(sizes)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--body-kib", type=int, default=1024)
    args = parser.parse_args()
    body = {"version": "v42", "rows": ["x" * 1000] * args.body_kib}
    service = JsonServer(lambda _: Reply(200, body))
    service.start()
    os.environ["WARROOM_SECRET_BENCH_URL"] = service.url
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        async with env, build_worker(env.client):
            print(f"{args.steps} steps, each answered with a {args.body_kib} KiB JSON body")
            for label, with_outputs in (("with outputs", True), ("without outputs", False)):
                total, events, largest = await measure(env.client, args.steps, with_outputs)
                print(
                    f"  {label:<16} history {total / 1024:8.1f} KiB in {events} events,"
                    f" largest event {largest / 1024:.1f} KiB",
                    flush=True,
                )
    finally:
        service.stop()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300: don't leave the exit code to interpreter teardown
