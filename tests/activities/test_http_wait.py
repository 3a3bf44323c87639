"""http.wait against a loopback service whose answers the test scripts: conditions, hold_for,
heartbeated progress and resuming from it, timeouts, failed checks, cancellation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from activities.http_wait import http_wait
from tests.activities.actions import action_input, activity_env, failure, run, slow
from tests.fakehttp import FakeHttp, Reply
from warroom.entry.devstack import free_port

BAD, GOOD = Reply(200, {"error_rate": 0.2}), Reply(200, {"error_rate": 0.001})


def params(url: str, **more: Any) -> dict[str, Any]:
    return {"url": url, "condition": "json.error_rate < 0.01", "interval": "10ms", **more}


async def test_polls_until_the_condition_holds(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = [BAD, BAD, GOOD]
    result = await run(http_wait, params(f"{fake_http.url}/health"))
    assert (result.value, result.checks) == (0.001, 3)
    assert len(fake_http.requests) == 3


async def test_hold_for_needs_consecutive_checks_and_a_flap_starts_over(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = [GOOD, BAD, GOOD, GOOD, GOOD]
    result = await run(http_wait, params(f"{fake_http.url}/health", hold_for=3))
    assert result.checks == 5


async def test_hold_for_a_duration_counts_checks_across_it(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = GOOD
    result = await run(http_wait, params(f"{fake_http.url}/health", hold_for="30ms"))
    assert result.checks == 4  # the first check, then three more 10 ms apart


@pytest.mark.parametrize(
    ("condition", "answer"),
    [
        ("status == 200", {}),
        ("json.pods.1.ready == true", {"pods": [{"ready": False}, {"ready": True}]}),
        ("json.state != 'degraded'", {"state": "ok"}),
        ("json.replicas >= 3", {"replicas": "3"}),
    ],
)
async def test_condition_paths_and_literals(fake_http: FakeHttp, condition: str, answer: Any):
    fake_http.routes[("GET", "/s")] = Reply(200, answer)
    result = await run(http_wait, params(f"{fake_http.url}/s", condition=condition))
    assert result.checks == 1


async def test_heartbeats_progress_on_every_poll(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = [BAD, BAD, GOOD]
    env = activity_env()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    await env.run(http_wait, action_input(params(f"{fake_http.url}/health")))
    checks = [b["checks"] for b in beats if b["checks"]]
    assert checks == [1, 2, 3]
    assert beats[-1]["last_value"] == 0.001


async def test_a_retry_resumes_from_the_heartbeated_progress(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = GOOD
    progress = {"started_at": time.time(), "checks": 7, "streak": 1, "last_value": 0.001}
    result = await run(
        http_wait, params(f"{fake_http.url}/health", hold_for=2), heartbeat_details=[progress]
    )
    assert result.checks == 8  # one more check completed the streak the crashed attempt began


async def test_a_resumed_wait_keeps_its_original_deadline(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = BAD
    progress = {"started_at": time.time() - 3600, "checks": 40, "streak": 0}
    # Without resuming, this wait would poll for ten minutes: the guard turns that into a failure.
    err = await asyncio.wait_for(
        failure(
            http_wait,
            params(f"{fake_http.url}/health", timeout="10m"),
            heartbeat_details=[progress],
        ),
        30,
    )
    assert err.type == "warroom.WaitTimedOut"
    assert "(41 checks, last value: 0.2)" in err.message


async def test_timeout_is_a_non_retryable_wait_timed_out(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = BAD
    err = await failure(http_wait, params(f"{fake_http.url}/health", timeout="50ms"))
    assert err.type == "warroom.WaitTimedOut"
    assert err.non_retryable
    assert (
        "json.error_rate < 0.01 did not hold for 1 consecutive check(s) within 50ms" in err.message
    )


async def test_5xx_counts_as_a_failed_check_and_the_wait_goes_on(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = [Reply(503, {}), Reply(500, {}), GOOD]
    result = await run(http_wait, params(f"{fake_http.url}/health"))
    assert result.checks == 3


async def test_an_unreachable_service_times_out_naming_the_last_error():
    url = f"http://127.0.0.1:{free_port()}/health"
    err = await failure(http_wait, params(url, timeout="50ms"))
    assert err.type == "warroom.WaitTimedOut"
    assert "last error: GET" in err.message
    assert "ConnectError" in err.message


async def test_a_check_that_hangs_is_bounded_by_request_timeout(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = slow(GOOD, 0.5)
    err = await failure(
        http_wait,
        params(f"{fake_http.url}/health", request_timeout="100ms", timeout="150ms"),
    )
    assert err.type == "warroom.WaitTimedOut"
    assert "last error: no answer within 100ms" in err.message


async def test_4xx_ends_the_wait_at_once(fake_http: FakeHttp):
    # unrouted: 404; the timeout only bounds the test should 4xx be taken for a failed check
    err = await failure(http_wait, params(f"{fake_http.url}/nope", timeout="5s"))
    assert err.type == "warroom.HttpStatusError"
    assert err.non_retryable
    assert len(fake_http.requests) == 1


@pytest.mark.parametrize(
    "condition", ["error_rate < 0.01", "json.x <", "json.x < nope", "json.x =~ 1"]
)
async def test_a_malformed_condition_is_refused(fake_http: FakeHttp, condition: str):
    err = await failure(http_wait, params(f"{fake_http.url}/health", condition=condition))
    assert err.type == "warroom.ActionParamsError"
    assert fake_http.requests == []


async def test_cancellation_stops_the_wait_promptly(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = BAD
    env = activity_env()
    polled = asyncio.Event()
    env.on_heartbeat = lambda *details: polled.set() if details[0]["checks"] else None
    task = asyncio.create_task(
        env.run(
            http_wait, action_input(params(f"{fake_http.url}/health", interval="1h", timeout="2h"))
        )
    )
    await asyncio.wait_for(polled.wait(), 30)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)  # a guard against hanging, not a timing assertion
    assert len(fake_http.requests) == 1
