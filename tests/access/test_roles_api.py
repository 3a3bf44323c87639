"""Roles through the API, on a real server and Temporal: a viewer's token reads and cannot act
(403 naming the role), an alerts-scoped token sends alerts and nothing else, a responder's
decision records how it was authenticated; each refusal is counted in /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import Api, am, serve_api, worker_queue  # noqa: F401 (a fixture)
from tests.api.test_alerts import group, wait_state
from warroom.access.roles import ALERTS, Principal, Role
from warroom.record.timeline import timeline

AM_TOKEN, VIEWER_TOKEN, CAROL_TOKEN, ADMIN_TOKEN = (
    f"{who}-token-0123456789abcdef" for who in ("am", "vera", "carol", "ada")
)
TOKENS = {
    AM_TOKEN: Principal("alertmanager", None, "token:alertmanager", ALERTS),
    VIEWER_TOKEN: Principal("vera", Role.viewer, "token:vera"),
    CAROL_TOKEN: "carol",  # the first form: a responder
    ADMIN_TOKEN: Principal("ada", Role.admin, "token:ada"),
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def roles_api(dev_env, worker_queue) -> AsyncIterator[Api]:  # noqa: F811
    async with (
        await serve_api(dev_env.client, TOKENS) as url,  # type: ignore[arg-type]
        httpx.AsyncClient(timeout=30) as http,
    ):
        yield Api(url, http, dev_env.client)


def refused(metrics: str, via: str) -> float:
    prefix = f'warroom_access_events_total{{event="refused",via="{via}"}}'
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(prefix))


async def test_each_token_may_do_what_its_role_allows_and_no_more(roles_api):
    api = roles_api
    answer = await api.post("/v1/alerts/alertmanager", am(group()), headers=bearer(AM_TOKEN))
    assert answer.status_code == 200, answer.text
    incident_id = answer.json()["incident_id"]
    await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")
    before = refused((await api.get("/metrics", headers=bearer(ADMIN_TOKEN))).text, "token")

    # The alerts token: nothing but alerts.
    for method, path in [
        ("GET", "/v1/incidents"),
        ("GET", f"/v1/incidents/{incident_id}"),
        ("POST", f"/v1/incidents/{incident_id}/approve"),
        ("GET", "/metrics"),
    ]:
        reply = await api.http.request(
            method, f"{api.url}{path}", json={"step": "fix"}, headers=bearer(AM_TOKEN)
        )
        assert reply.status_code == 403, (path, reply.text)
        assert "this token has the alerts scope only" in reply.json()["error"]

    # The viewer: reads, never acts, never sends alerts.
    assert (await api.get(f"/v1/incidents/{incident_id}", headers=bearer(VIEWER_TOKEN))).is_success
    assert (
        await api.get(f"/v1/incidents/{incident_id}/timeline", headers=bearer(VIEWER_TOKEN))
    ).is_success
    for path, body in [
        (f"/v1/incidents/{incident_id}/approve", {"step": "fix"}),
        (f"/v1/incidents/{incident_id}/note", {"text": "hello"}),
        ("/v1/incidents", {"runbook": "paged", "summary": "x"}),
    ]:
        reply = await api.post(path, body, headers=bearer(VIEWER_TOKEN))
        assert reply.status_code == 403, (path, reply.text)
        assert reply.json()["error"].endswith("needs the responder role; vera is a viewer")
    reply = await api.post("/v1/alerts/alertmanager", am(group()), headers=bearer(VIEWER_TOKEN))
    assert reply.status_code == 403 and "alerts scope" in reply.json()["error"]

    state = await wait_state(api, incident_id, lambda s: True)
    assert [s.id for s in state.steps if s.status == "awaiting_approval"] == ["fix"]

    # The responder (today's `token: identity` form) approves; the decision says how.
    reply = await api.post(
        f"/v1/incidents/{incident_id}/approve", {"step": "fix"}, headers=bearer(CAROL_TOKEN)
    )
    assert reply.status_code == 200, reply.text
    approved = [e for e in await timeline(api.client, incident_id) if e.event == "approved"]
    assert [(e.actor, e.authenticated) for e in approved] == [("carol", "token:carol")]

    after = refused((await api.get("/metrics", headers=bearer(ADMIN_TOKEN))).text, "token")
    assert after - before == 8
