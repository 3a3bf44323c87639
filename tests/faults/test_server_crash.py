"""The Temporal dev server killed outright (SIGKILL) in the middle of an incident and started
again on the same database file: the incident resumes where it was, an approval given before
the crash still counts, and status updates keep coming on their cadence."""

from __future__ import annotations

from datetime import timedelta

from tests.fakehttp import Reply
from tests.faults.conftest import fault_runbook
from tests.workflows.test_incident import finish, start, step, wait_for
from warroom.contract.models import Decision
from workflows.incident import IncidentWorkflow

QUORUM = """
name: server-crash
title: Server crash mid-incident
severity: SEV3
updates:
  - {action: webhook.post, with: {url: "{{ secret.TARGET }}/updates"}}
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "{{ secret.TARGET }}/look"}}
  - id: fix
    phase: mitigate
    approval: {approvers: [carol, dave], min_approvals: 2}
    action: http.request
    with: {method: POST, url: "{{ secret.TARGET }}/fix"}
"""


async def test_a_killed_server_restarts_on_its_file_and_the_incident_goes_on(
    own_server, workers, fake_http, task_queue
):
    for route in (("POST", "/updates"), ("GET", "/look"), ("POST", "/fix")):
        fake_http.routes[route] = Reply(200, {"ok": True})
    client = await own_server.start()
    workers.start(own_server.address)
    handle = await start(client, task_queue, fault_runbook(QUORUM, cadence=timedelta(seconds=2)))
    await wait_for(
        handle, lambda s: s.status == "awaiting_approval" and s.updates_posted >= 1, "an update"
    )
    await handle.signal(IncidentWorkflow.approve, Decision(step="fix", by="carol"))
    before = await wait_for(
        handle, lambda s: step(s, "fix").approved_by == ["carol"], "carol's approval"
    )

    own_server.kill()
    posted_at_crash = len(fake_http.calls("POST", "/updates"))
    client = await own_server.start()

    handle = client.get_workflow_handle_for(IncidentWorkflow.run, handle.id)
    after = await wait_for(
        handle,
        lambda s: len(fake_http.calls("POST", "/updates")) >= posted_at_crash + 2,
        "two status updates after the restart",
    )
    assert after.status == "awaiting_approval"
    assert step(after, "look") == step(before, "look")  # not run again
    assert step(after, "fix").approved_by == ["carol"]  # the approval survived the crash
    assert after.updates_posted > before.updates_posted

    await handle.signal(IncidentWorkflow.approve, Decision(step="fix", by="dave"))
    result = await finish(handle)
    assert result.status == "resolved"
    assert step(result, "fix").approved_by == ["carol", "dave"]
    assert len(fake_http.calls("GET", "/look")) == 1
    assert len(fake_http.calls("POST", "/fix")) == 1
