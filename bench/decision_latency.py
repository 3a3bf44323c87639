"""Benchmark: a human decision's latency, from `warroom approve` to the approved step's activity
starting, vs a plain Temporal signal to an activity.

On one dev server, D incidents (default 50) wait at an approval gate; each is approved through
the CLI's own path (`warroom.incidents.decisions.send`: describe, checks, then a validated
update with a deadline) and the time runs until the step's GET reaches a local target. The baseline: D plain
workflows waiting for a signal, then making the same GET. The two alternate, one decision at a
time. One decision is also timed through the `warroom approve` command as a subprocess
(Python start-up and imports included), for the record.
Results go to bench/results/decision_latency.json.
Usage: .venv/bin/python -m bench.decision_latency [--decisions D]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from bench.machine import dev_server, run, write_results
from bench.measure import percentile, table
from bench.plain_activity import plain_get
from bench.plain_workflow import PlainGate
from bench.target import Target
from warroom.contract.models import Decision
from warroom.incidents import decisions
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook
from worker import build_worker
from workflows.incident import IncidentWorkflow

QUEUE = "bench-decisions"
PLAIN_QUEUE = "bench-decisions-plain"
ROOT = Path(__file__).resolve().parent.parent

RUNBOOK = """
name: decision-bench
title: Decision
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [carol]}
    action: http.request
    with: {url: "{{ secret.BENCH_URL }}/hit/{{ incident.incident_id }}"}
"""


async def gated_incidents(client: Client, n: int) -> list[str]:
    runbook = parse_runbook(RUNBOOK)
    ids = [await declare(client, runbook, "decision", declared_by="bench") for _ in range(n)]
    for incident_id in ids:
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        for _ in range(600):  # a bound, not a timing
            if (await handle.query(IncidentWorkflow.status)).status == "awaiting_approval":
                break
            await asyncio.sleep(0.05)
    return ids


async def approve(client: Client, target: Target, incident_id: str) -> float:
    sent = time.time()
    await decisions.send(client, incident_id, "approve", Decision(step="fix", by="carol"))
    return await asyncio.to_thread(target.first, incident_id) - sent


async def signal(client: Client, target: Target, workflow_id: str) -> float:
    sent = time.time()
    await client.get_workflow_handle(workflow_id).signal(PlainGate.approve)
    return await asyncio.to_thread(target.first, workflow_id) - sent


def approve_by_command(address: str, target: Target, incident_id: str) -> float:
    """`warroom approve` as a person runs it: a new process."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "WARROOM_TASK_QUEUE": QUEUE}
    command = [str(Path(sys.executable).parent / "warroom"), "approve", incident_id, "fix"]
    sent = time.time()
    subprocess.run([*command, "--by", "carol"], cwd=ROOT, env=env, check=True, capture_output=True)
    return target.first(incident_id) - sent


def summary(latencies: list[float]) -> dict[str, float]:
    return {f"p{p}_ms": round(1000 * percentile(latencies, p), 1) for p in (50, 95)}


async def main(n: int) -> None:
    target = Target("/hit/")
    target.server.start()
    os.environ["WARROOM_SECRET_BENCH_URL"] = target.server.url
    os.environ["WARROOM_TASK_QUEUE"] = QUEUE
    print(f"starting dev server; {n} decisions each way", flush=True)
    env = await dev_server()
    client = env.client
    plain_worker = Worker(
        client, task_queue=PLAIN_QUEUE, workflows=[PlainGate], activities=[plain_get]
    )
    try:
        async with env, build_worker(client), plain_worker:
            ids = await gated_incidents(client, n + 1)
            plain_ids = [f"plain-{uuid.uuid4().hex}" for _ in range(n)]
            for workflow_id in plain_ids:
                await client.start_workflow(
                    PlainGate.run,
                    f"{target.server.url}/hit/{workflow_id}",
                    id=workflow_id,
                    task_queue=PLAIN_QUEUE,
                )
            await asyncio.sleep(1)  # every plain workflow at its wait
            warroom, plain = [], []
            for incident_id, workflow_id in zip(ids, plain_ids, strict=False):
                warroom.append(await approve(client, target, incident_id))
                plain.append(await signal(client, target, workflow_id))
            address = client.service_client.config.target_host
            command = await asyncio.to_thread(approve_by_command, address, target, ids[-1])
    finally:
        target.server.stop()
    results: dict[str, Any] = {
        "decisions": n,
        "warroom_approve": summary(warroom),
        "plain_signal": summary(plain),
        "ratio_p50": round(percentile(warroom, 50) / percentile(plain, 50), 2),
        "ratio_p95": round(percentile(warroom, 95) / percentile(plain, 95), 2),
        "warroom_approve_command_ms": round(1000 * command, 1),
        "load_average_1m": os.getloadavg()[0],
    }
    w, p = results["warroom_approve"], results["plain_signal"]
    print(
        table(
            [
                ("decision -> activity start", "p50 ms", "p95 ms"),
                ("warroom approve (decisions.send)", f"{w['p50_ms']}", f"{w['p95_ms']}"),
                ("plain Temporal signal", f"{p['p50_ms']}", f"{p['p95_ms']}"),
                ("ratio warroom/plain", f"{results['ratio_p50']}", f"{results['ratio_p95']}"),
                ("`warroom approve` as a process (once)", f"{round(1000 * command, 1)}", ""),
            ]
        )
    )
    print(f"results: {write_results('decision_latency', results)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=50)
    args = parser.parse_args()
    run(main(args.decisions))
