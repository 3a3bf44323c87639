"""Alerts open and feed incidents through the real API, dev server and worker: one incident
per alert group, duplicates change nothing, resolved reaches the incident, a later alert opens
a new run, and alert content stays data."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import WorkflowExecutionStatus

from bench.alert_storm import signals_in
from tests.api.conftest import am, collapsed, fixture
from warroom.incidents import views
from warroom.intake.delivery import incident_id_for
from warroom.record.timeline import timeline


def group() -> str:
    return f'{{}}:{{alertname="TestAlert", run="{uuid.uuid4().hex}"}}'


async def wait_state(api, incident_id, ready, tries=150):
    for _ in range(tries):
        state = await views.status(api.client, incident_id)
        if ready(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{incident_id} never got there: {state}")


async def test_a_group_opens_one_incident_a_duplicate_changes_nothing_resolved_closes_it(api):
    key = group()
    first = await api.post("/v1/alerts/alertmanager", am(key))
    assert first.status_code == 200, first.text
    opened = first.json()
    assert opened["outcome"] == "opened" and opened["signals"] == 2
    assert opened["runbook"] == "paged" and opened["severity"] == "SEV1"  # severity: critical
    assert opened["incident_id"] == incident_id_for("paged", "alertmanager", key)

    again = await api.post("/v1/alerts/alertmanager", am(key))
    assert again.json() == {**opened, "outcome": "joined"}

    incident_id = opened["incident_id"]
    state = await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")
    # The repeat was answered by the API from memory: the incident got each alert once.
    assert state.alerts_received == 2 and state.alerts_duplicate == 0
    assert len(state.firing_alerts) == 2
    assert state.declared_by == "alertmanager" and state.severity == "SEV1"
    assert state.summary == "Checkout 5xx ratio is 17%"  # the first alert's summary
    runs = [wf async for wf in api.client.list_workflows(f"WorkflowId = '{incident_id}'")]
    assert len(runs) == 1

    done = await api.post("/v1/alerts/alertmanager", am(key, status="resolved"))
    assert done.status_code == 200 and done.json()["outcome"] == "joined"
    final = await views.result(api.client, incident_id)  # on_alert_resolved: resolve
    assert final.status == "resolved" and not final.firing_alerts


async def test_an_alert_after_the_incident_closed_opens_a_new_run_that_show_and_timeline_follow(
    api,
):
    key = group()
    incident_id = (await api.post("/v1/alerts/alertmanager", am(key))).json()["incident_id"]
    await api.post("/v1/alerts/alertmanager", am(key, status="resolved"))
    assert (await views.result(api.client, incident_id)).status == "resolved"

    late = await api.post("/v1/alerts/alertmanager", am(key, starts_at="2026-11-25T09:00:00Z"))
    assert late.json()["outcome"] == "opened" and late.json()["incident_id"] == incident_id

    state = await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")
    assert [a.status for a in state.alerts] == ["firing", "firing"]
    assert state.alerts_received == 2  # the new run's, not the closed one's
    entries = await timeline(api.client, incident_id)
    assert [e.event for e in entries].count("declared") == 1  # the latest run only
    statuses = [
        wf.status async for wf in api.client.list_workflows(f"WorkflowId = '{incident_id}'")
    ]
    assert sorted(s.name for s in statuses) == ["COMPLETED", "RUNNING"]
    listed = [i for i in await views.list_incidents(api.client) if i.incident_id == incident_id]
    assert sorted(i.status for i in listed) == ["awaiting_approval", "resolved"]


async def test_a_resolved_notification_for_no_open_incident_opens_nothing(api):
    key = group()
    answer = await api.post("/v1/alerts/alertmanager", am(key, status="resolved"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "no_open_incident"
    incident_id = answer.json()["incident_id"]
    assert [wf async for wf in api.client.list_workflows(f"WorkflowId = '{incident_id}'")] == []


async def test_routing_most_specific_wins_and_unmatched_alerts_open_the_fallback(api):
    checkout = await api.post(
        "/v1/alerts/alertmanager", am(group(), labels={"service": "checkout"})
    )
    assert checkout.json()["runbook"] == "paged-checkout"
    stray = await api.post(
        "/v1/alerts/alertmanager", am(group(), labels={"alertname": "NobodyKnowsMe"})
    )
    assert stray.status_code == 200
    assert stray.json()["runbook"] == "catchall"
    assert stray.json()["fallback_reason"] == "no runbook matches"
    assert stray.json()["severity"] == "SEV4"


async def test_grafana_and_generic_payloads_open_incidents(api):
    body = fixture("grafana-firing.json")
    body["groupKey"] = group()
    answer = await api.post("/v1/alerts/grafana", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["runbook"] == "paged" and answer.json()["severity"] == "SEV1"
    state = await wait_state(api, answer.json()["incident_id"], lambda s: s.alerts)
    assert state.declared_by == "grafana" and state.summary == "Search p99 above 2s"
    assert state.alerts[0].fingerprint == "6c8f1a2b3c4d5e6f" and state.alerts[0].source == "grafana"

    generic = fixture("generic-firing.json")
    generic["dedup_key"] = uuid.uuid4().hex
    answer = await api.post("/v1/alerts", generic)
    assert answer.status_code == 200, answer.text
    assert answer.json()["runbook"] == "paged" and answer.json()["severity"] == "SEV3"
    state = await wait_state(api, answer.json()["incident_id"], lambda s: s.alerts)
    assert state.declared_by == "uptime-robot" and state.summary == "TestAlert"
    assert state.alerts[0].labels == {
        "alertname": "TestAlert",
        "severity": "warning",
        "service": "orders",
        "team": "storage",
    }
    resolved = await api.post("/v1/alerts", {**generic, "status": "resolved"})
    assert resolved.json()["outcome"] == "joined"
    assert (await views.result(api.client, answer.json()["incident_id"])).status == "resolved"


async def test_truncated_notifications_and_unknown_fields_are_accepted(api):
    body = fixture("alertmanager-truncated.json")
    body["groupKey"] = group()
    answer = await api.post("/v1/alerts/alertmanager", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["runbook"] == "catchall"  # CheckoutHighErrorRate: none of ours


EVIL = "{{ 7*7 }}"
LOOP = "{% for x in range(3) %}x{% endfor %}"


async def test_template_text_in_labels_stays_literal_in_state_timeline_and_actions(api):
    labels = {"evil": EVIL, "loop": LOOP, "region": "{{ secret.X }}"}
    answer = await api.post(
        "/v1/alerts/alertmanager", am(group(), labels=labels, annotations={"summary": LOOP})
    )
    assert answer.status_code == 200, answer.text
    incident_id = answer.json()["incident_id"]
    state = await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")
    assert state.alerts[0].labels["evil"] == EVIL and state.alerts[0].labels["loop"] == LOOP
    assert state.summary == LOOP
    # The label supplied the declared param `region`; the note step rendered both as text.
    notes = [e.detail for e in await timeline(api.client, incident_id) if EVIL in e.detail]
    assert any(f"seen {EVIL} in {{{{ secret.X }}}}" in n for n in notes), notes
    alert_entries = [
        e for e in await timeline(api.client, incident_id) if e.event.startswith("alert")
    ]
    assert alert_entries and all(
        "49" not in e.detail and "xxx" not in e.detail for e in alert_entries
    )


async def test_a_storm_of_duplicates_opens_one_incident_per_group_and_acknowledges_all(api):
    keys = [group() for _ in range(3)]
    bodies = [am(keys[i % 3]) for i in range(150)]
    answers = await asyncio.gather(*(api.post("/v1/alerts/alertmanager", b) for b in bodies))
    assert {a.status_code for a in answers} == {200}
    ids = {a.json()["incident_id"] for a in answers}
    assert len(ids) == 3
    assert sum(a.json()["outcome"] == "opened" for a in answers) == 3
    for incident_id in ids:
        runs = [wf async for wf in api.client.list_workflows(f"WorkflowId = '{incident_id}'")]
        assert len(runs) == 1
        state = await wait_state(api, incident_id, lambda s: s.alerts_received >= 2)
        assert len(state.alerts) == 2
        assert await signals_in(api.client, incident_id) == 1  # 50 notifications, one Temporal call
    metrics = (await api.get("/metrics")).text
    assert collapsed(metrics) == 147 * 2  # in flight at once, or stored moments ago
    assert 'warroom_incidents_opened_total{runbook="paged"} 3.0' in metrics
    assert (
        'warroom_alert_notifications_total{outcome="joined",source="alertmanager"} 147.0' in metrics
    )


async def test_status_and_describe_address_the_latest_run(api):
    key = group()
    incident_id = (await api.post("/v1/alerts/alertmanager", am(key))).json()["incident_id"]
    described = await api.client.get_workflow_handle(incident_id).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
