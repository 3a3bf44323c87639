"""Benchmark: many open incidents on one worker, each posting a status update every minute,
vs as many plain Temporal workflows posting on the same cadence.

N incidents (default 1,000) wait at an approval nobody gives, on a 60 s cadence, for M minutes
(default 5); N plain workflows (sleep, post, repeat) run beside them on the same dev server.
They are started over one cadence interval by default (`--spread 0`: all at once, so that every
update of a round falls due in the same second: the worst case). Each side has its own worker
process, so its peak RSS (VmHWM) and CPU are its own. A local webhook target records every
update's arrival; a workflow's k-th update is due k minutes after it started. Reports updates
due and missed, lateness p50/p95/p99/max and p99 by update number (a cadence loop that drifts
shows as lateness growing with k), the workers' peak RSS and CPU per update. Targets for
warroom: none missed, p99 < 5 s, RSS < 1 GiB. Results go to bench/results/open_incidents.json.
Usage: .venv/bin/python -m bench.open_incidents [--incidents N] [--minutes M] [--spread S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.machine import dev_server, run, write_results
from bench.measure import cpu_of, peak_rss_bytes, percentile, table
from bench.plain_workflow import PlainCadence
from bench.target import Target
from warroom.incidents import execution
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook

CADENCE = timedelta(minutes=1)
#: How long after the measured window an update that fell due in it may still arrive.
GRACE = timedelta(seconds=30)
ROOT = Path(__file__).resolve().parent.parent

RUNBOOK = """
name: open-bench
title: Open incident
severity: SEV2
cadence: {SEV2: 1m}
updates:
  - action: webhook.post
    with: {url: "{{ secret.BENCH_URL }}/update/{{ incident.incident_id }}"}
steps:
  - id: hold
    phase: mitigate
    approval: {approvers: [carol]}
    action: http.request
    with: {url: "{{ secret.BENCH_URL }}/ok"}
"""


class Side:
    """One side of the comparison: its own worker process, task queue and workflows."""

    def __init__(self, name: str, queue: str, command: list[str]) -> None:
        self.name, self.queue, self.command = name, queue, command
        self.worker: subprocess.Popen[bytes] | None = None
        self.starts: dict[str, float] = {}
        self.rss = self.cpu = 0.0

    def start(self, address: str, target_url: str) -> None:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "WARROOM_TASK_QUEUE": self.queue,
            "WARROOM_SECRET_BENCH_URL": target_url,
        }
        self.worker = subprocess.Popen([sys.executable, "-m", *self.command], cwd=ROOT, env=env)

    async def wait_for_worker(self, client: Client) -> None:
        for _ in range(20):  # a bound on the worker's start-up, not a timing
            if await execution.worker_polls(client, self.queue):
                return
        raise SystemExit(f"the {self.name} worker never polled its task queue")

    async def read_starts(self, client: Client) -> None:
        """When each workflow started (the server's clock, as the due times count from)."""
        async for wf in client.list_workflows(f'TaskQueue="{self.queue}"'):
            self.starts[wf.id] = wf.start_time.timestamp()

    def measure_worker(self) -> None:
        assert self.worker is not None
        self.rss, self.cpu = peak_rss_bytes(self.worker.pid), cpu_of(self.worker.pid)

    def stop(self) -> None:
        if self.worker is None:
            return
        self.worker.send_signal(signal.SIGTERM)
        try:
            self.worker.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.worker.kill()


WARROOM = Side("warroom", "bench-open", ["worker"])
PLAIN = Side("plain Temporal", "bench-open-plain", ["bench.plain_worker", "bench-open-plain"])


async def start_all(client: Client, n: int, target_url: str, spread: float) -> None:
    """N incidents and N plain cadence workflows, a pair every `spread / n` seconds (all at
    once, 32 starts at a time, when `spread` is 0)."""
    runbook = parse_runbook(RUNBOOK)
    limit = asyncio.Semaphore(32)
    every = CADENCE.total_seconds()

    async def incident() -> None:
        async with limit:
            await declare(client, runbook, "open incident", declared_by="bench")

    async def plain() -> None:
        workflow_id = f"plain-{uuid.uuid4().hex}"
        async with limit:
            await client.start_workflow(
                PlainCadence.run,
                args=[f"{target_url}/update/{workflow_id}", every],
                id=workflow_id,
                task_queue=PLAIN.queue,
            )

    async def pair(index: int) -> None:
        await asyncio.sleep(index * spread / n)
        await asyncio.gather(incident(), plain())

    await asyncio.gather(*(pair(i) for i in range(n)))


def lateness(
    starts: dict[str, float], arrivals: dict[str, list[float]], horizon: float
) -> tuple[int, dict[int, list[float]]]:
    """Updates due by `horizon` (the k-th k cadences after the start), and how late each
    arrived, by k (the cadence loop drifting shows as lateness growing with k)."""
    expected, late = 0, defaultdict(list)
    step = CADENCE.total_seconds()
    for workflow_id, started in starts.items():
        due = [started + k * step for k in range(1, int((horizon - started) // step) + 1)]
        expected += len(due)
        got = sorted(arrivals.get(workflow_id, []))
        for k, (at, arrived) in enumerate(zip(due, got, strict=False), start=1):
            late[k].append(arrived - at)
    return expected, late


def side_results(side: Side, arrivals: dict[str, list[float]], horizon: float) -> dict[str, Any]:
    expected, by_k = lateness(side.starts, arrivals, horizon)
    late = [seconds for values in by_k.values() for seconds in values]
    return {
        "updates_expected": expected,
        "updates_received": len(late),
        "updates_missed": expected - len(late),
        "lateness_s": {f"p{p}": round(percentile(late, p), 2) for p in (50, 95, 99)}
        | {"max": round(max(late, default=0.0), 2)},
        "lateness_p99_by_update": ", ".join(f"{percentile(v, 99):.2f}" for v in by_k.values()),
        "worker_peak_rss_mib": round(side.rss / 2**20, 1),
        "worker_cpu_s": round(side.cpu, 1),
        "worker_cpu_ms_per_update": round(1000 * side.cpu / max(len(late), 1), 1),
    }


async def main(n: int, minutes: float, spread: float) -> None:
    target = Target("/update/")
    target.server.start()
    every = CADENCE.total_seconds()
    print(
        f"{n} open incidents and {n} plain workflows started over {spread:.0f} s, "
        f"{every:.0f} s cadence, {minutes} min"
    )
    env = await dev_server()
    address = env.client.service_client.config.target_host
    os.environ["WARROOM_TASK_QUEUE"] = WARROOM.queue
    try:
        async with env:
            for side in (WARROOM, PLAIN):
                side.start(address, target.server.url)
                await side.wait_for_worker(env.client)
            began = time.time()
            await start_all(env.client, n, target.server.url, spread)
            started_in = time.time() - began
            print(f"  started {2 * n} workflows in {started_in:.1f} s", flush=True)
            horizon = began + minutes * 60
            while time.time() < horizon:
                await asyncio.sleep(min(30, max(horizon - time.time(), 0)))
                print(f"  {time.time() - began:5.0f} s: {target.count()} updates", flush=True)
            for side in (WARROOM, PLAIN):
                await side.read_starts(env.client)
            due = sum(
                lateness(side.starts, target.arrivals, horizon)[0] for side in (WARROOM, PLAIN)
            )
            for _ in range(int(GRACE.total_seconds())):  # what fell due late in the window
                if target.count() >= due:
                    break
                await asyncio.sleep(1)
            for side in (WARROOM, PLAIN):
                side.measure_worker()
    finally:
        for side in (WARROOM, PLAIN):
            side.stop()
        target.server.stop()
    report(n, minutes, spread, target, horizon)


def report(n: int, minutes: float, spread: float, target: Target, horizon: float) -> None:
    w, p = (side_results(side, target.arrivals, horizon) for side in (WARROOM, PLAIN))
    rows: list[tuple[str, ...]] = [("per worker", "warroom", "plain Temporal", "ratio", "target")]

    def row(label: str, *path: str, goal: str = "", ratio: bool = True) -> None:
        mine: Any = w
        theirs: Any = p
        for key in path:
            mine, theirs = mine[key], theirs[key]
        quotient = f"{mine / theirs:.2f}" if ratio and theirs else ""
        rows.append((label, str(mine), str(theirs), quotient, goal))

    row("updates due", "updates_expected", ratio=False)
    row("updates missed", "updates_missed", goal="0", ratio=False)
    for q in ("p50", "p95", "p99", "max"):
        row(f"lateness {q} (s)", "lateness_s", q, goal="< 5" if q == "p99" else "")
    row("lateness p99 by update (s)", "lateness_p99_by_update", ratio=False)
    row("peak RSS (MiB)", "worker_peak_rss_mib", goal="< 1024")
    row("CPU ms per update", "worker_cpu_ms_per_update")
    print(table(rows))
    results = {
        "incidents": n,
        "minutes": minutes,
        "cadence_s": CADENCE.total_seconds(),
        "started_over_s": spread,
        "warroom": w,
        "plain": p,
        "load_average_1m": os.getloadavg()[0],
    }
    print(f"results: {write_results('open_incidents', results)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument(
        "--spread",
        type=float,
        default=CADENCE.total_seconds(),
        help="seconds over which to start them (0: all at once, every update in one burst)",
    )
    args = parser.parse_args()
    run(main(args.incidents, args.minutes, args.spread))
