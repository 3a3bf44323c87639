"""Benchmark: many open incidents on one worker, each posting a status update every minute.

N incidents (default 1,000) wait at an approval nobody gives, on a 60 s cadence, for M minutes
(default 5). The worker is its own process (`python -m worker`), so its peak RSS (VmHWM) and CPU
are its own. A local webhook target counts every status update and its arrival time; an
incident's k-th update is due k minutes after its workflow started. Reports updates expected and
received (none may be missing), lateness p50/p95/p99/max (target p99 < 5 s) and the worker's peak
RSS (target < 1 GiB) and CPU. Results go to bench/results/open_incidents.json.
Usage: .venv/bin/python -m bench.open_incidents [--incidents N] [--minutes M]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.machine import write_results
from bench.measure import cpu_of, peak_rss_bytes, percentile, table
from warroom import incidents, search_attributes
from warroom.devstack import installed_binary
from warroom.jsonserver import JsonServer, Reply, Request
from warroom.language.loader import parse_runbook

CADENCE = timedelta(minutes=1)
QUEUE = "bench-open"
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


class Target:
    """The webhook target: when each incident's status updates arrived (wall clock)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self.server = JsonServer(self._handle)

    def _handle(self, request: Request) -> Reply:
        if request.path.startswith("/update/"):
            with self._lock:
                self.arrivals[request.path.removeprefix("/update/")].append(time.time())
        return Reply(200, {"ok": True})

    def count(self) -> int:
        with self._lock:
            return sum(len(times) for times in self.arrivals.values())


def start_worker(address: str, target_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "WARROOM_TASK_QUEUE": QUEUE,
        "WARROOM_SECRET_BENCH_URL": target_url,
    }
    return subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env)


async def declare_all(client: Client, n: int) -> None:
    runbook = parse_runbook(RUNBOOK)
    limit = asyncio.Semaphore(32)
    done = 0

    async def one() -> None:
        nonlocal done
        async with limit:
            await incidents.declare(client, runbook, "open incident", declared_by="bench")
        done += 1
        if done % 250 == 0 or done == n:
            print(f"  declared {done}/{n}", flush=True)

    await asyncio.gather(*(one() for _ in range(n)))


async def start_times(client: Client) -> dict[str, float]:
    found: dict[str, float] = {}
    async for wf in client.list_workflows(f'TaskQueue="{QUEUE}"'):
        found[wf.id] = wf.start_time.timestamp()
    return found


def lateness(
    starts: dict[str, float], arrivals: dict[str, list[float]], horizon: float
) -> tuple[int, list[float]]:
    """Updates due by `horizon` (k cadences after each start), and how late each arrived."""
    expected, late = 0, []
    step = CADENCE.total_seconds()
    for incident_id, started in starts.items():
        due = [started + k * step for k in range(1, int((horizon - started) // step) + 1)]
        expected += len(due)
        got = sorted(arrivals.get(incident_id, []))
        late += [arrived - at for at, arrived in zip(due, got, strict=False)]
    return expected, late


async def main(n: int, minutes: float) -> None:
    target = Target()
    target.server.start()
    print(f"{n} open incidents, {CADENCE.total_seconds():.0f} s cadence, {minutes} min", flush=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    address = env.client.service_client.config.target_host
    worker = start_worker(address, target.server.url)
    os.environ["WARROOM_TASK_QUEUE"] = QUEUE
    try:
        async with env:
            began = time.time()
            await declare_all(env.client, n)
            declared_in = time.time() - began
            horizon = began + minutes * 60
            while time.time() < horizon:
                await asyncio.sleep(min(30, max(horizon - time.time(), 0)))
                print(f"  {time.time() - began:5.0f} s: {target.count()} updates", flush=True)
            starts = await start_times(env.client)
            expected, _ = lateness(starts, target.arrivals, horizon)
            for _ in range(int(GRACE.total_seconds())):  # what fell due late in the window
                if len(lateness(starts, target.arrivals, horizon)[1]) >= expected:
                    break
                await asyncio.sleep(1)
            rss, cpu = peak_rss_bytes(worker.pid), cpu_of(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=40)
        except subprocess.TimeoutExpired:
            worker.kill()
        target.server.stop()
    expected, late = lateness(starts, target.arrivals, horizon)
    results: dict[str, Any] = {
        "incidents": n,
        "minutes": minutes,
        "cadence_s": CADENCE.total_seconds(),
        "declare_s": round(declared_in, 1),
        "updates_expected": expected,
        "updates_received": len(late),
        "updates_missed": expected - len(late),
        "lateness_s": {f"p{p}": round(percentile(late, p), 2) for p in (50, 95, 99)}
        | {"max": round(max(late, default=0.0), 2)},
        "worker_peak_rss_mib": round(rss / 2**20, 1),
        "worker_cpu_s": round(cpu, 1),
        "worker_cpu_ms_per_update": round(1000 * cpu / max(len(late), 1), 1),
        "load_average_1m": os.getloadavg()[0],
    }
    late_s = results["lateness_s"]
    print(
        table(
            [
                ("measure", "value", "target"),
                ("incidents declared", f"{n} in {declared_in:.1f} s", ""),
                ("status updates due / delivered", f"{expected} / {len(late)}", "none missed"),
                (
                    "lateness p50 / p95 / p99 / max (s)",
                    " / ".join(str(v) for v in late_s.values()),
                    "p99 < 5 s",
                ),
                ("worker peak RSS", f"{results['worker_peak_rss_mib']} MiB", "< 1024 MiB"),
                (
                    "worker CPU",
                    f"{cpu:.1f} s ({results['worker_cpu_ms_per_update']} ms/update, "
                    "incl. declaring)",
                    "",
                ),
            ]
        )
    )
    print(f"results: {write_results('open_incidents', results)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.minutes))
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300: don't leave the exit code to interpreter teardown
