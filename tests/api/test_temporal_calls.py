"""What one decision through the API costs in Temporal calls: a regression that describes the
incident twice, or asks for a worker twice, fails here."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.conftest import catalogue
from tests.api.temporal_calls import DECISION, counted_client, stop
from warroom.api.app import Temporal
from warroom.entry.web import web_app


async def test_a_decision_costs_one_describe_one_worker_check_and_the_update(dev_env, worker_queue):
    client, calls = await counted_client(dev_env.client)
    app = web_app(catalogue(), Temporal(client))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", timeout=30
    ) as http:
        declared = await http.post(
            "/v1/incidents", json={"runbook": "paged", "summary": "counted", "by": "erin"}
        )
        assert declared.status_code == 201, declared.text
        incident_id = declared.json()["incident_id"]
        for _ in range(150):
            shown = (await http.get(f"/v1/incidents/{incident_id}")).json()
            if shown["pending_approvals"] == ["fix"]:
                break
            await asyncio.sleep(0.1)
        calls.take()

        noted = await http.post(
            f"/v1/incidents/{incident_id}/note", json={"text": "counted", "by": "carol"}
        )
        assert noted.status_code == 200, noted.text
        assert calls.take() == DECISION
        approved = await http.post(
            f"/v1/incidents/{incident_id}/approve", json={"step": "fix", "by": "carol"}
        )
        assert approved.status_code == 200, approved.text
        assert calls.take() == DECISION
    await stop(client, incident_id)
