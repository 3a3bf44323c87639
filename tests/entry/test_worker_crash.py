"""A worker process killed outright (SIGKILL, OOM, power loss) in the middle of a step: a new
worker finishes the incident, and the step's retried call carries the same Idempotency-Key,
so a system that honours it acts once."""

from __future__ import annotations

import asyncio
import threading

from tests.cli.test_cli import declare_runbook, wait_for, worker_process
from tests.fakehttp import Recorded, Reply

# A short start-to-close timeout: the server retries a step only once its attempt timed out.
CRASHY = """
name: crashy
title: Crash in flight
steps:
  - id: charge
    phase: mitigate
    action: http.request
    with: {method: POST, url: "{{ secret.CLI_API }}/charge"}
    timeout: 3s
    retry: {max_attempts: 5, initial_interval: 1s, backoff: 1.0}
"""


def key_of(request: Recorded) -> str | None:
    return next((v for k, v in request.headers.items() if k.lower() == "idempotency-key"), None)


async def test_a_worker_killed_mid_step_is_replaced_and_the_step_keeps_its_key(
    dev_env, task_queue, fake_http, tmp_path
):
    in_flight, killed = threading.Event(), threading.Event()

    def charge(_request: Recorded) -> Reply:
        if not in_flight.is_set():  # the first call is held until its worker is dead
            in_flight.set()
            killed.wait(60)
        return Reply(200, {"charged": True})

    fake_http.routes[("POST", "/charge")] = charge
    runbook = tmp_path / "crashy.yaml"
    runbook.write_text(CRASHY)
    env, first = await worker_process(dev_env, task_queue, fake_http)
    second = None
    try:
        incident_id = await declare_runbook(env, runbook, "--summary", "crash")
        assert await asyncio.to_thread(in_flight.wait, 60), "the step never reached the target"
        first.kill()  # SIGKILL: no graceful shutdown, the call is cut off in flight
        await asyncio.to_thread(first.wait, 60)
        killed.set()

        _, second = await worker_process(dev_env, task_queue, fake_http)
        state = await wait_for(lambda s: s["status"] == "resolved", "show", incident_id, env=env)
    finally:
        killed.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    assert state["steps"][0]["status"] == "succeeded"
    calls = fake_http.calls("POST", "/charge")
    assert len(calls) == 2, calls  # the cut-off attempt, and the retry on the new worker
    assert [key_of(c) for c in calls] == [f"{incident_id}:charge"] * 2
