"""Fixtures of the fault suite: worker processes and a Temporal dev server the tests kill for
real (SIGKILL), a loopback endpoint that holds requests until the test lets them go, and
runbooks with short retries and cadences so the suite stays quick."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from bench.alert_storm import STORM_RUNBOOK, Storm, post_all, serve_process, wait_healthy
from tests.fakehttp import Recorded, Reply
from warroom.contract.models import IncidentState
from warroom.entry.devstack import DevServer, free_port
from warroom.entry.jsonserver import JsonServer
from warroom.incidents import views
from warroom.intake.delivery import incident_id_for
from warroom.language.loader import parse_runbook
from warroom.language.runbook import Runbook

#: Bound on waiting for a held request or a killed process (a hang guard, not a timing assertion).
BOUND_SECONDS = 60


def fault_runbook(text: str, cadence: timedelta | None = None) -> Runbook:
    """Parse a test runbook; `cadence` (shorter than the language allows, to keep the suite
    quick) replaces the status-update interval of every severity."""
    rb = parse_runbook(textwrap.dedent(text), "fault-runbook.yaml")
    if cadence is not None:
        rb = rb.model_copy(update={"cadence": dict.fromkeys(rb.cadence, cadence)})
    return rb


class Processes:
    """Processes of the test's own; every one still running at the end is killed."""

    procs: list[subprocess.Popen[bytes]]

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no graceful shutdown, whatever the process was doing is cut off."""
        proc.kill()
        proc.wait(BOUND_SECONDS)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait(BOUND_SECONDS)


class WorkerProcesses(Processes):
    """`warroom worker` processes on one task queue; every one still running at the end is killed."""

    def __init__(self, task_queue: str, secrets: dict[str, str], log_dir: Path) -> None:
        self.env = {
            **os.environ,
            "WARROOM_TASK_QUEUE": task_queue,
            **{f"WARROOM_SECRET_{name}": value for name, value in secrets.items()},
        }
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, address: str) -> subprocess.Popen[bytes]:
        exe = str(Path(sys.executable).parent / "warroom")
        log_path = self.log_dir / f"worker-{len(self.procs)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [exe, "worker"],
                env={**self.env, "TEMPORAL_ADDRESS": address},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc


class KillableDevServer:
    """`temporal server start-dev` on free ports and a SQLite file in a temp dir, run as our own
    process so a test can SIGKILL it and start it again on the same database file."""

    def __init__(self, data_dir: Path) -> None:
        self.server = DevServer(data_dir, port=free_port(), ui_port=free_port())
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return self.server.address

    async def start(self) -> Client:
        self._launch()
        return await self.server.wait_ready()

    def _launch(self) -> None:
        self.server.data_dir.mkdir(parents=True, exist_ok=True)
        with self.server.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.server.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
            )

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(BOUND_SECONDS)


class HeldEndpoint:
    """A loopback endpoint that records every request and holds it until `release()`; unlike
    FakeHttp, held requests do not block each other."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self.arrived = threading.Condition()
        self.released = threading.Event()
        self._server = JsonServer(self._answer, port)

    @property
    def url(self) -> str:
        return self._server.url

    def _answer(self, request: Recorded) -> Reply:
        with self.arrived:
            self.requests.append(request)
            self.arrived.notify_all()
        self.released.wait(BOUND_SECONDS)
        return Reply(200, {"ok": True})

    def wait_for_requests(self, count: int) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= count, BOUND_SECONDS)

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> HeldEndpoint:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.stop()


@pytest.fixture
def held() -> Iterator[HeldEndpoint]:
    with HeldEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def workers(task_queue, fake_http, held, tmp_path) -> Iterator[WorkerProcesses]:
    """Worker processes whose `{{ secret.TARGET }}` is the fake HTTP peer and `{{ secret.HELD }}`
    the holding endpoint; all killed at the end, whatever happened."""
    procs = WorkerProcesses(task_queue, {"TARGET": fake_http.url, "HELD": held.url}, tmp_path)
    try:
        yield procs
    finally:
        procs.kill_all()


@pytest.fixture
def own_server(tmp_path) -> Iterator[KillableDevServer]:
    """A dev server of the test's own (the session's is shared and must not be killed)."""
    server = KillableDevServer(tmp_path / "temporal")
    try:
        yield server
    finally:
        server.kill()


class ApiProcesses(Processes):
    """`warroom serve` processes (the storm runbook on their search path); a test kills one
    with SIGKILL and starts it again on the same port. Every one left running is killed."""

    def __init__(self, task_queue: str, work_dir: Path) -> None:
        self.task_queue = task_queue
        self.work_dir = work_dir
        (work_dir / "storm.yaml").write_text(STORM_RUNBOOK)
        self.procs: list[subprocess.Popen[bytes]] = []

    async def start(self, address: str, port: int | None = None) -> str:
        """Start one against Temporal at `address`; its URL once it answers /healthz."""
        port = port or free_port()
        proc = serve_process(address, self.task_queue, self.work_dir, port)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, proc, BOUND_SECONDS)
        return url


@pytest.fixture
def api_processes(task_queue, tmp_path) -> Iterator[ApiProcesses]:
    procs = ApiProcesses(task_queue, tmp_path)
    try:
        yield procs
    finally:
        procs.kill_all()


@dataclass
class Retrying:
    """Posts as Alertmanager does: a 5xx answer or a connection error is retried with backoff
    until a 2xx (or 4xx, which Alertmanager drops); `failures` counts what was retried."""

    http: httpx.AsyncClient
    failures: Counter[str] = field(default_factory=Counter)

    async def post(self, url: str, body: Any) -> httpx.Response:
        delay, deadline = 0.05, time.monotonic() + BOUND_SECONDS
        while True:
            try:
                response = await self.http.post(url, json=body)
                if response.status_code < 500:
                    return response
                self.failures[str(response.status_code)] += 1
            except httpx.TransportError as exc:
                self.failures[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} never took the notification: {dict(self.failures)}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)


async def burst_through_a_fault(
    http: httpx.AsyncClient,
    url: str,
    storm: Storm,
    senders: int,
    after: int,
    fault: Callable[[], Awaitable[None]],
) -> Retrying:
    """Post the storm to `url` as Alertmanager would (retrying), `fault` running once `after`
    notifications were acknowledged; every notification ends acknowledged (200)."""
    sender = Retrying(http)
    acked = asyncio.Event()
    acks = 0

    async def post(body: dict[str, Any]) -> int:
        nonlocal acks
        response = await sender.post(url, body)
        assert response.status_code == 200, response.text
        acks += 1
        if acks == after:
            acked.set()
        return response.status_code

    async def fault_after() -> None:
        await acked.wait()
        await fault()

    faulted = asyncio.create_task(fault_after())
    _, statuses = await post_all(storm, senders, post)
    await faulted
    assert statuses == {200: len(storm.posts)}
    return sender


async def incident_states(
    client: Client, storm: Storm, bound: float = BOUND_SECONDS
) -> dict[str, IncidentState]:
    """Each group's incident once it shows every alert the storm posted (a live worker is
    needed to answer the query), by group key."""
    expected = storm.expected()
    ids = {key: incident_id_for("alertmanager", key) for key in expected}
    deadline = time.monotonic() + bound
    while True:
        states = {key: await views.status(client, ids[key]) for key in expected}
        if all(len(s.alerts) >= len(expected[k]) for k, s in states.items()):
            return states
        if time.monotonic() > deadline:
            return states  # the caller's assertion says what is missing
        await asyncio.sleep(0.2)


async def assert_every_alert_counted_once(client: Client, task_queue: str, storm: Storm) -> None:
    """Exactly one incident per group; each holds exactly its group's alerts, each counted once."""
    states = await incident_states(client, storm)
    runs = Counter([wf.id async for wf in client.list_workflows(f"TaskQueue = '{task_queue}'")])
    assert sorted(runs) == sorted(incident_id_for("alertmanager", k) for k in storm.expected()), (
        runs
    )
    assert set(runs.values()) == {1}, runs  # one run per group: no second incident opened
    for key, fingerprints in storm.expected().items():
        state = states[key]
        assert sorted(a.fingerprint for a in state.alerts) == sorted(fingerprints), key
        assert all(a.notifications == 1 for a in state.alerts), state.alerts
        assert state.alerts_received - state.alerts_duplicate == len(fingerprints), key
