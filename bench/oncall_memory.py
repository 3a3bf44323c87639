"""The memory of many on-call schedules on one worker: a `warroom worker` process (its own OS
process) starts N schedule workflows of 3 layers each from an oncall.yaml (signal-with-start,
as on every worker start), each running its first task and arming its handoff timer; then the
worker's RSS is read and compared with the same worker started with no schedules.
Usage: .venv/bin/python -m bench.oncall_memory [--schedules N]. Writes
bench/results/oncall_memory.json."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from temporalio.client import Client

from bench.machine import dev_server, run, write_results
from bench.measure import peak_rss_bytes
from warroom.contract.oncall import ScheduleState, schedule_workflow_id

ROOT = Path(__file__).resolve().parent.parent
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]


def oncall_yaml(n: int) -> str:
    lines = ["schedules:"] if n else ["schedules: {}"]
    for i in range(n):
        a, b, c = (f"p{(i * 3 + k) % 50}" for k in range(3))
        lines += [
            f"  s{i}:",
            f"    timezone: {ZONES[i % len(ZONES)]}",
            "    layers:",
            '      - rotation: {every: 1w, handoff: "mon 09:00", start: 2026-11-30}',
            f"        members: [{a}, {b}, {c}]",
            '      - rotation: {every: 1d, handoff: "18:00", start: 2026-11-30}',
            f"        members: [{b}, {c}]",
            '        restrict: {days: [mon, tue, wed, thu, fri], from: "18:00", to: "09:00"}',
            '      - rotation: {every: 12h, handoff: "08:00", start: 2026-11-30}',
            f"        members: [{c}, {a}]",
            "        restrict: {days: [sat, sun]}",
        ]
    return "\n".join(lines) + "\n"


def current_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def spawn_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env)


async def worker_with(client: Client, address: str, n: int, folder: Path) -> dict[str, float]:
    """Start a worker whose oncall.yaml has `n` schedules; wait until each runs; its memory."""
    queue = f"bench-oncall-{n}-{int(time.time())}"
    (folder / "oncall.yaml").write_text(oncall_yaml(n))
    (folder / "people.yaml").write_text("".join(f"p{i}: {{email: p{i}@x.io}}\n" for i in range(50)))
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "WARROOM_TASK_QUEUE": queue,
        "WARROOM_ONCALL": str(folder / "oncall.yaml"),
    }
    began = time.monotonic()
    worker = spawn_worker(env)
    try:
        for i in range(n):  # every schedule answers a query: its run started and armed its timer
            handle = client.get_workflow_handle(schedule_workflow_id(f"s{i}"))
            for _ in range(600):
                try:
                    await handle.query("state", result_type=ScheduleState)
                    break
                except Exception:
                    await asyncio.sleep(0.1)
        ready = time.monotonic() - began
        await asyncio.sleep(2)
        return {
            "seconds_to_all_running": round(ready, 1),
            "rss_mib": round(current_rss(worker.pid) / 2**20, 1),
            "peak_rss_mib": round(peak_rss_bytes(worker.pid) / 2**20, 1),
        }
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        for i in range(n):
            await client.get_workflow_handle(schedule_workflow_id(f"s{i}")).terminate()


async def main(n: int) -> None:
    env = await dev_server()
    address = env.client.service_client.config.target_host
    try:
        with tempfile.TemporaryDirectory() as tmp:
            idle = await worker_with(env.client, address, 0, Path(tmp))
            busy = await worker_with(env.client, address, n, Path(tmp))
    finally:
        await env.shutdown()
    per = (busy["rss_mib"] - idle["rss_mib"]) * 1024 / n
    results = {
        "schedules": n,
        "idle": idle,
        "with_schedules": busy,
        "kib_per_schedule": round(per, 1),
    }
    print(
        f"{n} schedule workflows (3 layers each) on one worker: RSS {busy['rss_mib']} MiB "
        f"(peak {busy['peak_rss_mib']}) against {idle['rss_mib']} MiB with none: "
        f"{per:.0f} KiB per schedule; all running {busy['seconds_to_all_running']} s after the "
        "worker started"
    )
    write_results("oncall_memory", results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=1000)
    run(main(parser.parse_args().schedules))
