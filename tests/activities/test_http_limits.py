"""What a remote answer or a template can cost a worker: bodies read with a cap (an endless
chunked stream from a real loopback socket), Retry-After bounded by the step's max_interval,
and template rendering that is bounded and never stalls the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.boundary import DEFAULT_MAX_RETRY_DELAY
from activities.http import MAX_RESPONSE_BYTES, http_request, retry_after
from activities.webhook import webhook_post
from tests.fakehttp import FakeHttp, Reply
from warroom.contract.models import ActionInput

#: The endless server gives up after this much, so a client that never stops still ends.
SAFETY_STOP = 64 * 1024 * 1024


class EndlessServer:
    """A raw loopback HTTP server that answers `status` with a chunked body that never ends,
    until the client hangs up; it records how much it sent and whether the client hung up."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.sent = 0
        self.client_hung_up = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/stream"

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            conn.recv(65536)
            head = f"HTTP/1.1 {self.status} X\r\ntransfer-encoding: chunked\r\n\r\n"
            chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
            try:
                conn.sendall(head.encode())
                while self.sent < SAFETY_STOP:
                    conn.sendall(chunk)
                    self.sent += 0x10000
                conn.sendall(b"0\r\n\r\n")
            except OSError:
                self.client_hung_up.set()

    def __enter__(self) -> EndlessServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        self._thread.join(timeout=10)


def action_input(params: dict[str, Any]) -> ActionInput:
    return ActionInput(incident_id="inc-t", step="s", params=params, context={})


async def failure(fn: Any, params: dict[str, Any], env: ActivityEnvironment | None = None):
    with pytest.raises(ApplicationError) as info:
        await (env or ActivityEnvironment()).run(fn, action_input(params))
    return info.value


@pytest.fixture
def endless_ok() -> Iterator[EndlessServer]:
    with EndlessServer(200) as server:
        yield server


@pytest.mark.parametrize("fn", [http_request, webhook_post])
async def test_an_endless_body_is_cut_at_the_cap_with_a_non_retryable_error(
    endless_ok: EndlessServer, fn: Any
):
    params = {"url": endless_ok.url, **({"text": "x"} if fn is webhook_post else {})}
    tracemalloc.start()
    try:
        err = await failure(fn, params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.type == "warroom.ResponseTooLarge" and err.non_retryable
    assert f"response too large: the body exceeds the limit of {MAX_RESPONSE_BYTES} bytes" in (
        err.message
    )
    # The read stopped: the client hung up long before the server's safety stop.
    assert endless_ok.client_hung_up.wait(10)
    assert endless_ok.sent < SAFETY_STOP
    assert peak < 16 * MAX_RESPONSE_BYTES


async def test_an_endless_error_body_still_gives_the_status_error():
    with EndlessServer(503) as server:
        err = await failure(http_request, {"url": server.url})
        assert err.type == "warroom.HttpStatusError" and not err.non_retryable
        assert "answered 503" in err.message and "xxxx…" in err.message
        assert server.client_hung_up.wait(10)


async def test_a_declared_length_over_the_cap_is_refused_before_reading(fake_http: FakeHttp):
    fake_http.routes[("GET", "/big")] = Reply(200, "y" * (MAX_RESPONSE_BYTES + 10))
    err = await failure(http_request, {"url": f"{fake_http.url}/big"})
    assert err.type == "warroom.ResponseTooLarge" and err.non_retryable


# ---- Retry-After ----------------------------------------------------------------------


def env_with_policy(policy: RetryPolicy | None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, retry_policy=policy)
    return env


@pytest.mark.parametrize(
    ("policy", "cap"),
    [
        (RetryPolicy(maximum_interval=timedelta(minutes=1)), timedelta(minutes=1)),
        (None, DEFAULT_MAX_RETRY_DELAY),
    ],
)
async def test_retry_after_never_exceeds_the_steps_max_interval(
    fake_http: FakeHttp, policy: RetryPolicy | None, cap: timedelta
):
    fake_http.routes[("GET", "/limited")] = Reply(429, {}, {"Retry-After": "99999999"})
    err = await failure(http_request, {"url": f"{fake_http.url}/limited"}, env_with_policy(policy))
    assert err.type == "warroom.HttpStatusError" and not err.non_retryable
    assert err.next_retry_delay == cap


async def test_retry_after_as_an_http_date(fake_http: FakeHttp):
    far = format_datetime(datetime(2099, 1, 1, tzinfo=UTC), usegmt=True)
    fake_http.routes[("GET", "/far")] = Reply(503, {}, {"Retry-After": far})
    policy = RetryPolicy(maximum_interval=timedelta(seconds=30))
    err = await failure(http_request, {"url": f"{fake_http.url}/far"}, env_with_policy(policy))
    assert err.next_retry_delay == timedelta(seconds=30)


def test_retry_after_parses_seconds_and_dates():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert retry_after("17", now) == timedelta(seconds=17)
    assert retry_after("Wed, 25 Nov 2026 12:02:00 GMT", now) == timedelta(minutes=2)
    assert retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now) == timedelta(0)  # in the past
    assert retry_after("99999999999999999999", now) == timedelta(days=365)
    assert retry_after("soon", now) is None and retry_after(None, now) is None
    assert retry_after("\uff11\uff17", now) is None  # not ASCII digits


# ---- template rendering ---------------------------------------------------------------


class LoopProbe:
    """Counts turns of the event loop; the template reads `probe.turns` as it renders, so the
    test sees whether the loop kept turning during the rendering itself."""

    def __init__(self) -> None:
        self.count = 0
        self.seen: list[int] = []

    @property
    def turns(self) -> str:
        self.seen.append(self.count)
        return ""

    async def spin(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)


async def test_a_nested_range_template_fails_with_the_limit_while_the_loop_stays_free():
    probe = LoopProbe()
    spinning = asyncio.create_task(probe.spin())
    template = (
        "{% for i in range(1000) %}{{ probe.turns }}"
        "{% for j in range(1000) %}{% endfor %}{% endfor %}"
    )
    inp = ActionInput(
        incident_id="inc-t", step="s", params={"url": template}, context={"probe": probe}
    )
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(http_request, inp)
    spinning.cancel()
    err = info.value
    assert err.type == "warroom.TemplateError" and err.non_retryable
    assert "exceeded its limit of 100000 operations" in err.message
    # Another coroutine on the same event loop kept running while the template rendered.
    assert len(probe.seen) > 1 and probe.seen[-1] > probe.seen[0]
