import uuid

from temporalio.worker import Worker

from activities.registry import ACTIVITIES
from tests.fakehttp import Reply
from warroom.models import IncidentInput
from warroom.runbook_loader import parse_runbook
from workflows.incident import IncidentWorkflow


async def test_smoke(time_env, task_queue, fake_http, monkeypatch):
    monkeypatch.setenv("WARROOM_SECRET_API", fake_http.url)
    fake_http.routes[("GET", "/a")] = Reply(200, {"v": "x1"})
    fake_http.routes[("POST", "/b")] = Reply(200, {"ok": True})
    rb = parse_runbook("""
name: t
title: T
steps:
  - {id: a, phase: triage, action: http.request, with: {url: "{{ secret.API }}/a"}}
  - id: b
    phase: mitigate
    action: http.request
    with: {method: POST, url: "{{ secret.API }}/b", json: {v: "{{ steps.a.json.v }}"}}
""")
    async with Worker(time_env.client, task_queue=task_queue, workflows=[IncidentWorkflow], activities=ACTIVITIES):
        result = await time_env.client.execute_workflow(
            IncidentWorkflow.run, IncidentInput(runbook=rb, summary="s"), id=f"inc-{uuid.uuid4().hex}", task_queue=task_queue)
    print(result)
    assert result.status == "resolved"
    assert fake_http.calls("POST", "/b")[0].body == {"v": "x1"}
