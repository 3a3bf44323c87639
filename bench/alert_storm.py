"""Benchmark 3, alert storm: Alertmanager notifications posted by concurrent clients to a
`warroom serve` process (its own OS process, as in production) vs a plain client doing one
signal-with-start per notification, on the same dev server in the same run.

The storm: G alert groups of A alerts each; every notification carries the alerts its group has
fired so far (as Alertmanager does), many are repeats, and about half are delivered twice at
once (two Alertmanager peers in HA). Checks exactly G incidents, every distinct alert counted
once, zero 5xx. No worker runs while the clients post (both sides measure intake only); a
warroom worker starts afterwards to check the counts.
Usage: .venv/bin/python -m bench.alert_storm [--notifications N] [--clients C] [--groups G] [--httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

#: Opens one incident per group; the approval keeps it open while the storm goes on.
STORM_RUNBOOK = """\
name: storm
title: Alert storm
severity: SEV3
match: {alertname: StormAlert}
steps:
  - id: look
    phase: triage
    action: note
    with: {text: looked}
  - id: fix
    phase: mitigate
    approval: {approvers: [carol]}
    action: note
    with: {text: fixed}
"""
STARTS_AT = "2026-11-25T07:38:32.708Z"
ALERTMANAGER = "/v1/alerts/alertmanager"


@dataclass(frozen=True)
class Storm:
    """What was posted, in order, and what the incidents must end up holding."""

    prefix: str
    groups: int
    alerts_per_group: int
    #: Each notification body; a body posted twice in a row is an HA pair.
    posts: list[dict[str, Any]]

    def group_key(self, group: int) -> str:
        return f'{{}}:{{alertname="StormAlert", storm="{self.prefix}", group="{group}"}}'

    def fingerprint(self, group: int, alert: int) -> str:
        return f"{self.prefix}-{group:03d}-{alert:03d}"

    def expected(self) -> dict[str, set[str]]:
        """group key → the fingerprints of every distinct alert of that group that was posted."""
        seen: dict[str, set[str]] = {}
        for body in self.posts:
            seen.setdefault(body["groupKey"], set()).update(
                a["fingerprint"] for a in body["alerts"]
            )
        return seen


def notification(storm: Storm, group: int, alerts: range) -> dict[str, Any]:
    """An Alertmanager (webhook v4) notification of `group` carrying those of its alerts."""
    common = {"alertname": "StormAlert", "service": f"svc-{group}", "severity": "warning"}
    return {
        "version": "4",
        "receiver": "warroom",
        "status": "firing",
        "groupKey": storm.group_key(group),
        "groupLabels": {"alertname": "StormAlert"},
        "commonLabels": common,
        "commonAnnotations": {"summary": f"storm group {group}"},
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": {**common, "instance": f"host-{i}"},
                "annotations": {"summary": f"host-{i} is on fire"},
                "startsAt": STARTS_AT,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph",
                "fingerprint": storm.fingerprint(group, i),
            }
            for i in alerts
        ],
    }


def make_storm(
    notifications: int,
    groups: int = 20,
    alerts_per_group: int = 5,
    *,
    seed: int = 0,
    ha: float = 0.5,
    cumulative: bool = True,
) -> Storm:
    """`notifications` posts over `groups` groups; a fraction `ha` of them are HA pairs.
    Cumulative (as Alertmanager does): a group's k-th notification carries its first
    1 + k//2 alerts (capped), so most alerts are repeats. Else it carries its k-th alert
    alone, so an alert lost on the way is not sent again by a later notification."""
    rng = random.Random(seed)
    storm = Storm(uuid.uuid4().hex[:8], groups, alerts_per_group, [])
    sent = Counter[int]()
    while len(storm.posts) < notifications:
        group = rng.randrange(groups) if len(storm.posts) >= groups else len(storm.posts)
        k = sent[group]
        alerts = range(min(alerts_per_group, 1 + k // 2)) if cumulative else range(k, k + 1)
        body = notification(storm, group, alerts)
        sent[group] += 1
        storm.posts.append(body)
        if rng.random() < ha and len(storm.posts) < notifications:
            storm.posts.append(body)  # the HA peer delivers the same notification
    return storm


async def post_all(
    storm: Storm, clients: int, post: Callable[[dict[str, Any]], Awaitable[int]]
) -> tuple[float, Counter[int]]:
    """`clients` concurrent senders take the posts in order; seconds taken, statuses seen."""
    queue = iter(storm.posts)
    statuses = Counter[int]()

    async def sender() -> None:
        for body in queue:  # one shared iterator: each post goes to exactly one sender
            statuses[await post(body)] += 1

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(clients)))
    return time.perf_counter() - started, statuses


class KeepAlive:
    """A minimal HTTP/1.1 client: JSON POSTs over keep-alive loopback connections, one request
    at a time on each. Real HTTP, but a light load generator: httpx spends more CPU per request
    than the API it measures, on the same two cores (`--httpx` measures with it anyway)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: Any) -> int:
        data = json.dumps(body).encode()
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        await reader.readexactly(length)
        if "connection: close" in head:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


# ---- the run ------------------------------------------------------------------------------


def serve_process(
    address: str, task_queue: str, runbooks: Path, port: int
) -> subprocess.Popen[bytes]:
    """`warroom serve` in its own process, with the storm runbook on its search path; its
    output goes to `api-<port>.log` next to the runbook."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "WARROOM_TASK_QUEUE": task_queue,
        "WARROOM_RUNBOOKS": str(runbooks),
    }
    env.pop("WARROOM_API_TOKENS", None)
    exe = str(Path(sys.executable).parent / "warroom")
    with (runbooks / f"api-{port}.log").open("ab") as log:
        return subprocess.Popen(
            [exe, "serve", "--port", str(port)],
            env=env,
            cwd=runbooks,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], bound: float = 60) -> None:
    deadline = time.monotonic() + bound
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"warroom serve exited with {proc.returncode}")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"warroom serve did not answer on {url} within {bound:.0f}s")


async def main(
    notifications: int, clients: int, groups: int, alerts: int, use_httpx: bool = False
) -> None:
    # Imported here: the tests import the storm's shape above without a Temporal stack.
    from temporalio.common import WorkflowIDConflictPolicy

    from bench.machine import dev_server, write_results
    from warroom.entry.devstack import free_port
    from warroom.incidents import views
    from warroom.intake.delivery import incident_id_for
    from worker import build_worker

    storm = make_storm(notifications, groups, alerts)
    expected = storm.expected()
    distinct = sum(len(v) for v in expected.values())
    ha_pairs = sum(1 for a, b in zip(storm.posts, storm.posts[1:], strict=False) if a is b)
    print(
        f"storm: {len(storm.posts)} notifications, {groups} groups, {distinct} distinct alerts, "
        f"{sum(len(b['alerts']) for b in storm.posts)} alerts in all, {ha_pairs} HA pairs; "
        f"{clients} clients; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    env = await dev_server()
    tq = f"storm-{storm.prefix}"
    os.environ["WARROOM_TASK_QUEUE"] = tq
    with tempfile.TemporaryDirectory() as tmp:
        runbooks = Path(tmp)
        (runbooks / "storm.yaml").write_text(STORM_RUNBOOK)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        address = env.client.service_client.config.target_host
        api = serve_process(address, tq, runbooks, port)
        try:
            await wait_healthy(url, api)
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            lean = KeepAlive("127.0.0.1", port)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:

                async def to_api(body: dict[str, Any]) -> int:
                    if use_httpx:
                        return (await http.post(f"{url}{ALERTMANAGER}", json=body)).status_code
                    return await asyncio.wait_for(lean.post(ALERTMANAGER, body), 60)

                warm = make_storm(40, 4, 2)  # warm up the API process and its connections
                await post_all(warm, clients, to_api)
                w_secs, w_status = await post_all(storm, clients, to_api)
            lean.close()
        finally:
            api.terminate()
            api.wait(30)

        async def plain(body: dict[str, Any]) -> int:
            # The naive client: one signal-with-start per notification, the whole body as signal.
            await env.client.start_workflow(
                "PlainAlertGroup",
                id=f"plain-{storm.prefix}-{body['groupKey']}",
                task_queue=f"plain-{tq}",
                start_signal="notification",
                start_signal_args=[body],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            return 200

        plain_storm = Storm(uuid.uuid4().hex[:8], groups, alerts, [])
        plain_storm.posts.extend(
            {**b, "groupKey": b["groupKey"].replace(storm.prefix, plain_storm.prefix)}
            for b in storm.posts
        )
        p_secs, _ = await post_all(plain_storm, clients, plain)

        # Check: exactly one incident per group, every distinct alert counted once.
        async with build_worker(env.client, tq):
            ids = {incident_id_for("alertmanager", k): v for k, v in expected.items()}
            deadline = time.monotonic() + 120
            while True:
                states = await asyncio.gather(*(views.status(env.client, i) for i in ids))
                if all(len(s.alerts) == len(ids[i]) for s, i in zip(states, ids, strict=True)):
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        runs = [
            wf
            async for wf in env.client.list_workflows(f"TaskQueue = '{tq}'")
            if wf.id in ids  # not the warm-up's
        ]
        counted_once = all(
            {a.fingerprint for a in s.alerts} == ids[i]
            and all(a.notifications == 1 for a in s.alerts)
            and s.alerts_received - s.alerts_duplicate == len(ids[i])
            for s, i in zip(states, ids, strict=True)
        )
        alerts_received = sum(s.alerts_received for s in states)
        signals = sum(await asyncio.gather(*(signals_in(env.client, i) for i in ids)))
        await env.shutdown()

    n = len(storm.posts)
    fivexx = sum(c for s, c in w_status.items() if s >= 500)
    rows = [
        ("warroom serve (HTTP)", w_secs, n / w_secs),
        ("plain signal-with-start", p_secs, n / p_secs),
    ]
    print(f"\n{'':26} {'seconds':>8} {'notifications/s':>16}")
    for name, secs, rate in rows:
        print(f"{name:26} {secs:8.2f} {rate:16.1f}")
    ratio = p_secs / w_secs
    print(f"ratio warroom/plain throughput: {ratio:.2f}x (target >= 3x)")
    print(
        f"incidents: {len(runs)} (expected {groups}); every distinct alert counted once: "
        f"{counted_once}; statuses {dict(w_status)}; 5xx: {fivexx}; "
        f"signals sent by warroom: {signals}, carrying {alerts_received} alerts, for "
        f"{sum(len(b['alerts']) for b in storm.posts)} alerts posted; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    path = write_results(
        "alert_storm",
        {
            "notifications": n,
            "groups": groups,
            "alerts_per_group": alerts,
            "distinct_alerts": distinct,
            "ha_pairs": ha_pairs,
            "clients": clients,
            "api": "warroom serve, own process",
            "http_client": "httpx" if use_httpx else "keep-alive (bench.alert_storm.KeepAlive)",
            "warroom_seconds": w_secs,
            "warroom_per_second": n / w_secs,
            "plain_seconds": p_secs,
            "plain_per_second": n / p_secs,
            "ratio": ratio,
            "incidents": len(runs),
            "counted_once": counted_once,
            "statuses": {str(k): v for k, v in w_status.items()},
            "signals_sent": signals,
            "alerts_received": alerts_received,
            "load_1min": os.getloadavg()[0],
        },
    )
    print(f"results: {path}")


async def signals_in(client: Any, incident_id: str) -> int:
    """The signals an incident's (latest run's) history holds: Temporal calls that got in."""
    from temporalio.api.enums.v1 import EventType

    handle = client.get_workflow_handle(incident_id)
    return sum(
        [
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            async for e in handle.fetch_history_events()
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=5, help="distinct alerts per group")
    parser.add_argument("--httpx", action="store_true", help="post with httpx (a heavier client)")
    args = parser.parse_args()
    from bench.machine import run

    run(main(args.notifications, args.clients, args.groups, args.alerts, args.httpx))
