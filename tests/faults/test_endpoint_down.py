"""A step's endpoint down (nothing listens on its port) for longer than the step's retries:
the incident pauses and escalates; once the endpoint is back, `retry_step` completes it."""

from __future__ import annotations

from tests.entry.test_worker_crash import key_of
from tests.fakehttp import Reply
from tests.faults.conftest import HeldEndpoint, fault_runbook
from tests.workflows.test_incident import finish, start, step, wait_for
from warroom.contract.models import StepCommand
from warroom.entry.devstack import free_port
from worker import build_worker
from workflows.incident import IncidentWorkflow

DOWN = """
name: endpoint-down
title: Endpoint down
escalation:
  acknowledge_within: 1h
  levels:
    - {notify: [{action: webhook.post, with: {url: "{{ secret.TARGET }}/page"}}]}
steps:
  - id: restart
    phase: mitigate
    action: http.request
    with: {method: POST, url: "{{ secret.DOWN }}/restart"}
    retry: {max_attempts: 3, initial_interval: 1s, backoff: 1.0}
    on_failure: pause
"""


async def test_an_endpoint_down_past_its_retries_pauses_escalates_and_retry_completes(
    dev_env, task_queue, fake_http, monkeypatch
):
    fake_http.routes[("POST", "/page")] = Reply(200, {})
    port = free_port()  # nothing listens there until the endpoint comes back
    monkeypatch.setenv("WARROOM_SECRET_TARGET", fake_http.url)
    monkeypatch.setenv("WARROOM_SECRET_DOWN", f"http://127.0.0.1:{port}")
    async with build_worker(dev_env.client, task_queue):
        handle = await start(dev_env.client, task_queue, fault_runbook(DOWN))
        paused = await wait_for(
            handle, lambda s: s.status == "paused" and s.escalations, "paused and escalated"
        )
        restart = step(paused, "restart")
        assert restart.status == "failed" and restart.attempts == 3
        assert restart.error is not None and "ConnectError" in restart.error
        assert str(port) not in restart.error  # the URL is a secret: scrubbed
        assert "restart failed and waits for a person" in paused.escalations[0].reason
        pages = fake_http.calls("POST", "/page")
        assert len(pages) == 1 and "ESCALATION level 1" in pages[0].body["text"]

        with HeldEndpoint(port) as endpoint:
            endpoint.release()  # up, and answering at once
            await handle.signal(
                IncidentWorkflow.retry_step, StepCommand(step="restart", by="carol")
            )
            result = await finish(handle)

    assert result.status == "resolved"
    restart = step(result, "restart")
    assert restart.status == "succeeded" and restart.decided_by == "carol"
    assert [r.path for r in endpoint.requests] == ["/restart"]
    assert (key_of(endpoint.requests[0]) or "").startswith(f"{handle.id}:restart")
