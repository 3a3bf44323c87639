"""The worker logs a failed activity once, not once per attempt: the SDK's "Completing activity
as failed" line comes for the attempt after which nothing is retried, saying which it was. On
the dev server, which tells the worker each activity's retry policy."""

from __future__ import annotations

import logging

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import finish, runbook, start
from worker import FAILED_LINE, build_worker

FAILING = """\
name: failing
title: Failing steps
steps:
  - id: flaky
    phase: triage
    action: http.request
    with: {url: "FAKE/flaky"}
    retry: {max_attempts: 3, initial_interval: 1s, backoff: 1.0}
    on_failure: continue
  - id: gone
    phase: triage
    action: http.request
    with: {url: "FAKE/gone"}
    retry: {max_attempts: 5, initial_interval: 1s}
    on_failure: continue
"""


async def test_a_failed_activity_is_one_log_line_not_one_per_attempt(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    fake_http: FakeHttp,
    caplog: pytest.LogCaptureFixture,
):
    fake_http.routes[("GET", "/flaky")] = Reply(503, {"error": "down"})  # retried
    fake_http.routes[("GET", "/gone")] = Reply(404, {"error": "no such thing"})  # not retried
    with caplog.at_level(logging.WARNING, logger="temporalio.activity"):
        async with build_worker(dev_env.client, task_queue):
            handle = await start(dev_env.client, task_queue, runbook(FAILING, fake_http))
            state = await finish(handle)
    assert [(s.id, s.status, s.attempts) for s in state.steps] == [
        ("flaky", "failed", 3),
        ("gone", "failed", 1),
    ]
    assert len(fake_http.calls("GET", "/flaky")) == 3
    lines = [r for r in caplog.records if r.getMessage().startswith(FAILED_LINE)]
    said = [r.getMessage() for r in lines]
    assert len(said) == 2, said
    # (the SDK adds the activity's details after the first words)
    assert said[0].startswith(f"{FAILED_LINE} (attempt 3 of 3, the last) "), said
    assert "/flaky answered 503" in said[0]
    assert said[1].startswith(
        f"{FAILED_LINE} (attempt 1, not retried: the error is not retryable) "
    ), said
    assert "warroom.HttpStatusError: GET" in said[1] and "/gone answered 404" in said[1]
    assert all(r.exc_info is None for r in lines)  # warroom's own errors: no traceback
