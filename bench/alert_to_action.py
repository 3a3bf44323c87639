"""Benchmark 2, alert to action: from the Alertmanager webhook POST to the first triage
activity starting, vs a plain `start_workflow` to its first activity starting.

One dev server, one process: the API (`warroom serve`'s app under uvicorn, in this process),
the warroom worker and the plain worker. Alerts go one at a time, each of a new group (a new
incident), alternating with a plain workflow; the next one starts once the previous activity
has reached the local HTTP service. The start time of each first activity is its
`ActivityTaskStarted` event time in the history (server clock, same machine), against the time
the POST (or `start_workflow`) was sent. Prints p50/p95 and the ratio; writes JSON.
Usage: .venv/bin/python -m bench.alert_to_action [--alerts N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import uuid
from datetime import datetime

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from bench.alert_storm import Storm, notification
from bench.bench_incident import runbook_text
from bench.machine import dev_server, run, write_results
from bench.measure import percentile
from bench.plain_activity import plain_get
from bench.plain_workflow import PlainSteps
from warroom.api.app import Temporal, create_app
from warroom.api.server import running
from warroom.entry.devstack import free_port
from warroom.entry.jsonserver import JsonServer, Reply
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook
from worker import build_worker


async def first_activity_started(client: Client, workflow_id: str) -> tuple[datetime, str, int]:
    """When the workflow's first activity started (server time), its type, and how many
    workflow tasks completed before it was scheduled."""
    tasks = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks += 1
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            kind = event.activity_task_scheduled_event_attributes.activity_type.name
            before = tasks
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            return event.event_time.ToDatetime().replace(tzinfo=None), kind, before
    raise RuntimeError(f"{workflow_id} started no activity")


async def main(n: int) -> None:
    arrived = threading.Semaphore(0)

    def answer(_: object) -> Reply:
        arrived.release()
        return Reply(200, {"ok": True})

    service = JsonServer(answer)
    service.start()
    os.environ["WARROOM_SECRET_BENCH_URL"] = service.url
    os.environ["WARROOM_TASK_QUEUE"] = tq = f"a2a-{uuid.uuid4().hex[:8]}"
    text = runbook_text(1).replace("title: Bench", "title: Bench\nmatch: {alertname: StormAlert}")
    catalogue = Catalogue([Entry(parse_runbook(text))], fallback="bench")
    print(f"starting dev server; {n} alerts vs {n} plain workflows; load {os.getloadavg()[0]:.2f}")
    env = await dev_server()
    plain_worker = Worker(
        env.client, task_queue=f"{tq}-plain", workflows=[PlainSteps], activities=[plain_get]
    )
    storm = Storm(uuid.uuid4().hex[:8], n, 1, [])
    # workflow id → (kind, when the call was sent, when it returned)
    sent: dict[str, tuple[str, datetime, datetime]] = {}

    async def reached_service() -> None:
        if not await asyncio.to_thread(arrived.acquire, True, 60):
            raise RuntimeError("the first activity never reached the service")

    app = create_app(catalogue, Temporal(env.client))
    async with (
        env,
        build_worker(env.client, tq),
        plain_worker,
        running(app, "127.0.0.1", free_port()) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):

        async def alert(i: int, record: bool) -> None:
            body = notification(storm, i, range(1))
            when = datetime.utcnow()
            response = await http.post(f"{url}/v1/alerts/alertmanager", json=body)
            response.raise_for_status()
            if record:
                sent[response.json()["incident_id"]] = ("warroom", when, datetime.utcnow())
            await reached_service()

        async def plain(record: bool) -> None:
            when = datetime.utcnow()
            handle = await env.client.start_workflow(
                PlainSteps.run,
                args=[f"{service.url}/ok", 1],
                id=f"plain-{uuid.uuid4().hex}",
                task_queue=f"{tq}-plain",
            )
            if record:
                sent[handle.id] = ("plain", when, datetime.utcnow())
            await reached_service()

        warm = 10
        for i in range(warm + n):
            record = i >= warm
            # Alternate which goes first, so neither always meets a warmer server.
            if i % 2:
                await alert(i, record)
                await plain(record)
            else:
                await plain(record)
                await alert(i, record)
            if i % 50 == 0:
                print(f"  {i}/{warm + n}", flush=True)

        latencies: dict[str, list[float]] = {"warroom": [], "plain": []}
        # Where the time goes: until the call returned (API + Temporal's start), and after.
        calls: dict[str, list[float]] = {"warroom": [], "plain": []}
        kinds = set()
        for workflow_id, (kind, when, returned) in sent.items():
            started, activity, tasks = await first_activity_started(env.client, workflow_id)
            latencies[kind].append((started - when).total_seconds() * 1000)
            calls[kind].append((returned - when).total_seconds() * 1000)
            kinds.add((kind, activity, tasks))
    service.stop()

    (w50, w95), (p50, p95) = (
        (percentile(latencies[side], 50), percentile(latencies[side], 95))
        for side in ("warroom", "plain")
    )
    print(f"\n(kind, first activity, workflow tasks before it): {sorted(kinds)}")
    print(f"{'':34} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'warroom: Alertmanager POST':34} {w50:8.1f} {w95:8.1f}")
    print(f"{'plain: start_workflow':34} {p50:8.1f} {p95:8.1f}")
    print(f"ratio warroom/plain: p50 {w50 / p50:.2f}x, p95 {w95 / p95:.2f}x (target <= 1.3x)")
    wc, pc = statistics.median(calls["warroom"]), statistics.median(calls["plain"])
    print(
        f"median until the call returned: warroom POST {wc:.1f} ms, plain start_workflow "
        f"{pc:.1f} ms; then to the activity start: warroom {w50 - wc:.1f} ms, plain {p50 - pc:.1f} ms"
    )
    print(f"load {os.getloadavg()[0]:.2f}")
    path = write_results(
        "alert_to_action",
        {
            "alerts": n,
            "api": "warroom's app under uvicorn, in the benchmark's process",
            "warroom_p50_ms": w50,
            "warroom_p95_ms": w95,
            "plain_p50_ms": p50,
            "plain_p95_ms": p95,
            "ratio_p50": w50 / p50,
            "ratio_p95": w95 / p95,
            "warroom_call_median_ms": wc,
            "plain_call_median_ms": pc,
            "load_1min": os.getloadavg()[0],
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200)
    args = parser.parse_args()
    run(main(args.alerts))
