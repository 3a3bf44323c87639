"""Incident routes mirror the CLI (same code underneath); with tokens every request needs one
and decisions are taken as the token's identity, never the body's."""

from __future__ import annotations

import uuid

from tests.api.conftest import TOKENS, am
from tests.api.test_alerts import group, wait_state
from warroom.incidents import views
from warroom.record.timeline import timeline

CAROL = {"Authorization": "Bearer carol-token-0123456789abc"}
ALERTMANAGER = {"Authorization": "Bearer alertmanager-token-0123456789"}


async def test_without_a_token_every_request_but_the_probes_is_refused(authed_api):
    for method, path in [
        ("POST", "/v1/alerts/alertmanager"),
        ("POST", "/v1/alerts"),
        ("GET", "/v1/incidents"),
        ("GET", "/v1/runbooks"),
        ("POST", "/v1/incidents/inc-x/approve"),
        ("GET", "/metrics"),
    ]:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": "Basic x"},
        ):
            reply = await authed_api.http.request(
                method, f"{authed_api.url}{path}", json={}, headers=headers
            )
            assert reply.status_code == 401, (path, headers, reply.text)
            assert reply.json() == {
                "error": "a valid `Authorization: Bearer TOKEN` header is required"
            }
            assert reply.headers["www-authenticate"] == "Bearer"
    assert (await authed_api.get("/healthz")).status_code == 200
    assert (await authed_api.get("/readyz")).status_code == 200
    assert (await authed_api.get("/metrics", headers=CAROL)).status_code == 200


async def test_with_a_token_alerts_are_taken_and_decisions_are_the_tokens_identity(authed_api):
    answer = await authed_api.post("/v1/alerts/alertmanager", am(group()), headers=ALERTMANAGER)
    assert answer.status_code == 200, answer.text
    incident_id = answer.json()["incident_id"]
    await wait_state(authed_api, incident_id, lambda s: s.status == "awaiting_approval")

    spoof = await authed_api.post(
        f"/v1/incidents/{incident_id}/approve", {"step": "fix", "by": "dave"}, headers=CAROL
    )
    assert spoof.status_code == 403
    assert spoof.json() == {"error": "you are authenticated as 'carol': you cannot act as 'dave'"}
    machine = await authed_api.post(
        f"/v1/incidents/{incident_id}/approve", {"step": "fix"}, headers=ALERTMANAGER
    )
    assert machine.status_code == 409  # the workflow's reason: not an approver
    assert "alertmanager" in machine.json()["error"] and "approver" in machine.json()["error"]

    approved = await authed_api.post(
        f"/v1/incidents/{incident_id}/approve", {"step": "fix", "comment": "go"}, headers=CAROL
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["id"] == "fix" and approved.json()["decided_by"] == "carol"
    state = await views.status(authed_api.client, incident_id)
    assert [(d.kind, d.by) for d in state.decisions] == [("approve", "carol")]
    assert "dave" not in str(state.decisions)


async def test_incident_routes_mirror_the_cli(api):
    declared = await api.post(
        "/v1/incidents",
        {"runbook": "paged", "summary": "by hand", "by": "erin", "severity": "SEV2"},
    )
    assert declared.status_code == 201, declared.text
    incident_id = declared.json()["incident_id"]
    await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")

    shown = (await api.get(f"/v1/incidents/{incident_id}")).json()
    assert shown["declared_by"] == "erin" and shown["severity"] == "SEV2"
    assert shown["pending_approvals"] == ["fix"]
    assert shown["metrics"]["time_to_acknowledge"] is None  # what `show --json` prints

    refused = await api.post(
        f"/v1/incidents/{incident_id}/approve", {"step": "look", "by": "carol"}
    )
    assert refused.status_code == 409
    assert "look" in refused.json()["error"]

    for word, body in [
        ("ack", {"by": "carol"}),
        ("assign", {"role": "comms", "to": "dave", "by": "carol"}),
        ("note", {"text": "{{ 7*7 }} looked at it", "by": "carol"}),
        ("severity", {"severity": "SEV1", "by": "carol"}),
    ]:
        reply = await api.post(f"/v1/incidents/{incident_id}/{word}", body)
        assert reply.status_code == 200, (word, reply.text)
    state = reply.json()
    assert state["severity"] == "SEV1" and state["roles"] == {"commander": "carol", "comms": "dave"}

    entries = (await api.get(f"/v1/incidents/{incident_id}/timeline")).json()
    assert entries == [e.model_dump(mode="json") for e in await timeline(api.client, incident_id)]
    assert any("{{ 7*7 }} looked at it" in e["detail"] for e in entries)

    listed = (
        await api.get("/v1/incidents", params={"runbook": "paged", "severity": "SEV1"})
    ).json()
    assert incident_id in [i["incident_id"] for i in listed]
    assert all(i["runbook"] == "paged" and i["severity"] == "SEV1" for i in listed)
    none = (
        await api.get("/v1/incidents", params={"service": f"nothing-{uuid.uuid4().hex}"})
    ).json()
    assert none == []

    resolved = await api.post(
        f"/v1/incidents/{incident_id}/resolve", {"by": "carol", "comment": "ok"}
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    closed = await api.post(f"/v1/incidents/{incident_id}/note", {"text": "late", "by": "carol"})
    assert closed.status_code == 409 and "is closed" in closed.json()["error"]
    missing = await api.get("/v1/incidents/inc-nobody-here")
    assert missing.status_code == 404


async def test_runbooks_and_openapi_list_everything(api):
    runbooks = (await api.get("/v1/runbooks")).json()
    assert [(r["name"], r["fallback"], r["specificity"]) for r in runbooks] == [
        ("catchall", True, [0, 0]),
        ("paged", False, [1, 1]),
        ("paged-checkout", False, [2, 2]),
    ]
    spec = (await api.get("/openapi.json")).json()
    words = [
        "approve",
        "reject",
        "retry",
        "skip",
        "abort",
        "ack",
        "assign",
        "note",
        "severity",
        "resolve",
    ]
    expected = {
        "/v1/alerts/alertmanager", "/v1/alerts/grafana", "/v1/alerts", "/v1/incidents", "/v1/incidents/search",
        "/v1/incidents/{incident_id}", "/v1/incidents/{incident_id}/timeline", "/v1/runbooks",
        "/healthz", "/readyz", "/metrics", "/codec/decode", "/codec/encode",
        "/v1/oncall", "/v1/oncall/{schedule}", "/v1/oncall/{schedule}/shifts",
        "/v1/oncall/{schedule}/overrides", "/v1/oncall/{schedule}/overrides/{override_id}",
        *(f"/v1/incidents/{{incident_id}}/{w}" for w in words),
    }  # fmt: skip
    assert set(spec["paths"]) == expected
    schemas = set(spec["components"]["schemas"])
    assert {"AlertmanagerNotification", "GrafanaNotification", "GenericAlert", "Delivery",
            "IncidentState", "IncidentSummary", "TimelineEntry", "StepState", "DeclareRequest",
            "DecisionRequest", "AssignRequest", "RunbookSummary"} <= schemas  # fmt: skip
    approve = spec["paths"]["/v1/incidents/{incident_id}/approve"]["post"]
    assert approve["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DecisionRequest"
    )


def test_tokens_are_long_enough():
    assert all(len(t) >= 16 for t in TOKENS)


async def test_a_token_is_never_taken_as_a_name_nor_kept_in_history(authed_api):
    answer = await authed_api.post("/v1/alerts/alertmanager", am(group()), headers=ALERTMANAGER)
    incident_id = answer.json()["incident_id"]
    await wait_state(authed_api, incident_id, lambda s: s.status == "awaiting_approval")
    carol_token = CAROL["Authorization"].removeprefix("Bearer ")
    for word, body in [
        ("assign", {"role": "ops", "to": carol_token}),
        ("note", {"text": f"my token is {carol_token}, oops"}),
        ("approve", {"step": "fix", "comment": "alertmanager-token-0123456789"}),
    ]:
        reply = await authed_api.post(f"/v1/incidents/{incident_id}/{word}", body, headers=CAROL)
        assert reply.status_code == 422, (word, reply.text)
        assert reply.json() == {
            "error": "an API token is never a name or text here: nothing was sent"
        }
    declared = await authed_api.post(
        "/v1/incidents", {"runbook": "paged", "summary": carol_token}, headers=CAROL
    )
    assert declared.status_code == 422
    entries = await timeline(authed_api.client, incident_id)
    state = await views.status(authed_api.client, incident_id)
    assert all(t not in str(entries) + str(state) for t in TOKENS)


async def test_with_tokens_the_declarer_of_an_alert_is_the_senders_identity(authed_api):
    """`source: carol` from another sender's token does not make carol the declarer (who
    could then no longer approve): it is a label."""
    alert = {"title": "TestAlert", "dedup_key": group(), "source": "carol"}
    opened = await authed_api.post("/v1/alerts", alert, headers=ALERTMANAGER)
    assert opened.status_code == 200, opened.text
    incident_id = opened.json()["incident_id"]
    state = await wait_state(authed_api, incident_id, lambda s: s.status == "awaiting_approval")
    assert state.declared_by == "alertmanager"
    assert {a.source for a in state.alerts} == {"carol"}  # the label stays
    approved = await authed_api.post(
        f"/v1/incidents/{incident_id}/approve", {"step": "fix"}, headers=CAROL
    )
    assert approved.status_code == 200, approved.text

    by_carol = await authed_api.post("/v1/alerts/alertmanager", am(group()), headers=CAROL)
    assert by_carol.status_code == 200, by_carol.text
    shown = await views.status(authed_api.client, by_carol.json()["incident_id"])
    assert shown.declared_by == "carol"
