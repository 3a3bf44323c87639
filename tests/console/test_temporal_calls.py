"""What one decision from the console costs in Temporal calls, the form post and the page it
redirects to together: the post looks at the incident once, and the page looks once and reads
the history once, even while a step runs (its live attempts come from the same read)."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid

import httpx

from tests.api.temporal_calls import DECISION, INCIDENT_PAGE, counted_client, stop
from tests.fakehttp import FakeHttp, Recorded, Reply
from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook
from worker import build_worker

#: The fix runs until the test lets it finish, so the page shows a running step.
RUNBOOK = """
name: counted
title: Counted
severity: SEV3
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [carol]}
    action: http.request
    with: {method: POST, url: "FAKE/fix", expect_status: 200}
    timeout: 30s
  - id: hold
    phase: recover
    approval: {approvers: [carol]}
    action: note
    with: {text: held}
"""


async def test_a_console_decision_and_its_page_look_at_the_incident_once_each(
    dev_env, fake_http: FakeHttp, monkeypatch
):
    started, release = threading.Event(), threading.Event()

    def slow(_: Recorded) -> Reply:
        started.set()
        release.wait(30)
        return Reply(200, {})

    fake_http.routes[("POST", "/fix")] = slow
    task_queue = f"tq-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("WARROOM_TASK_QUEUE", task_queue)
    rb = parse_runbook(RUNBOOK.replace("FAKE", fake_http.url))
    client, calls = await counted_client(dev_env.client)
    app = web_app(Catalogue([Entry(rb)], fallback="counted"), Temporal(client), tokens=Tokens({}))
    transport = httpx.ASGITransport(app=app)
    async with (
        build_worker(dev_env.client, task_queue),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30) as http,
    ):
        page = await http.get("/console/sign-in")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        csrf = found.group(1)
        await http.post("/console/sign-in", data={"csrf": csrf, "name": "carol"})
        page = await http.get("/console/sign-in")  # signed in: a new session, a new token
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        csrf = found.group(1)
        declared = await http.post(  # by someone else: the declarer never approves
            "/v1/incidents", json={"runbook": "counted", "summary": "counted", "by": "erin"}
        )
        assert declared.status_code == 201, declared.text
        incident_id = declared.json()["incident_id"]
        for _ in range(150):
            if "Approve fix" in (await http.get(f"/console/incidents/{incident_id}")).text:
                break
            await asyncio.sleep(0.1)
        calls.take()

        async def decide(word: str, **form: str) -> httpx.Response:
            return await http.post(
                f"/console/incidents/{incident_id}/{word}", data={"csrf": csrf, **form}
            )

        noted = await decide("note", text="counted")
        assert noted.status_code == 303, noted.text
        assert calls.take() == DECISION
        assert (await http.get(noted.headers["location"])).status_code == 200
        assert calls.take() == INCIDENT_PAGE

        approved = await decide("approve", step="fix")
        assert approved.status_code == 303, approved.text
        assert calls.take() == DECISION
        assert await asyncio.to_thread(started.wait, 30)  # the fix runs: a pending activity
        shown = await http.get(approved.headers["location"])
        assert shown.status_code == 200 and "running" in shown.text
        assert calls.take() == INCIDENT_PAGE

        # Refused (the step no longer waits): the page again, on the look the post took.
        refused = await decide("approve", step="fix")
        assert refused.status_code == 409 and "refused:" in refused.text
        assert calls.take() == {**INCIDENT_PAGE, "update_workflow_execution": 1}
        release.set()
        await stop(client, incident_id)
