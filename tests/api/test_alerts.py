"""Alerts open and feed incidents through the real API, dev server and worker: one incident
per alert group, duplicates change nothing, resolved reaches the incident, a later alert opens
a new run, and alert content stays data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
import zlib

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from bench.alert_storm import signals_in
from tests.api.conftest import Api, am, catalogue, collapsed, fixture, serve_api
from warroom.cli.render import incident_text
from warroom.contract.models import ALERTS_KEPT_FIRST, ALERTS_KEPT_LATEST
from warroom.incidents import views
from warroom.intake.delivery import incident_id_for, incident_input, legacy_incident_id
from warroom.intake.sources import AlertmanagerNotification
from warroom.record.timeline import timeline
from workflows.incident import IncidentWorkflow


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
    assert opened["incident_id"] == incident_id_for("alertmanager", key)

    again = await api.post("/v1/alerts/alertmanager", am(key))
    # Answered from memory: it sent nothing to Temporal, and says so.
    assert again.json() == {**opened, "outcome": "joined", "signals": 0}

    incident_id = opened["incident_id"]
    state = await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")
    # The repeat was answered by the API from memory: the incident got each alert once.
    assert state.alerts_received == 2 and state.alerts_duplicate == 0
    assert len(state.firing_alerts) == 2
    assert state.declared_by == "alertmanager" and state.severity == "SEV1"
    assert state.summary == "Checkout 5xx ratio is 17%"  # the first alert's summary
    assert state.service == "orders"  # the alerts' `service` label: the runbook names none
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


def mixed(key: str, status: str = "firing") -> dict:
    """The group's two alerts, one of service checkout and one of orders: their common labels
    no longer say which service (a group's common labels change as alerts join and leave)."""
    body = am(key, status=status, labels={"service": "checkout"})
    body["alerts"][1]["labels"]["service"] = "orders"
    del body["commonLabels"]["service"]
    return body


async def test_a_group_keeps_feeding_its_incident_whatever_its_common_labels_route_to_now(api):
    key = group()
    first = await api.post(
        "/v1/alerts/alertmanager", am(key, labels={"service": "checkout"}, alerts=1)
    )
    opened = first.json()
    assert (opened["runbook"], opened["outcome"]) == ("paged-checkout", "opened"), first.text
    incident_id = opened["incident_id"]
    await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")

    # The group grows: its common labels now route to `paged`, yet it joins its incident.
    grown = (await api.post("/v1/alerts/alertmanager", mixed(key))).json()
    assert (grown["incident_id"], grown["outcome"], grown["signals"]) == (incident_id, "joined", 1)
    state = await wait_state(api, incident_id, lambda s: s.alerts_total == 2)
    assert state.runbook == "paged-checkout" and state.alerts_firing == 2

    # ... and its resolution reaches it: the incident resolves (on_alert_resolved: resolve).
    done = (await api.post("/v1/alerts/alertmanager", mixed(key, "resolved"))).json()
    assert (done["incident_id"], done["outcome"]) == (incident_id, "joined")
    final = await views.result(api.client, incident_id)
    assert final.status == "resolved" and final.alerts_firing == 0
    group_runs = [
        wf.id async for wf in api.client.list_workflows(f"WorkflowId = '{incident_id}'")
    ] + [
        wf.id
        async for wf in api.client.list_workflows(
            f"WorkflowId = '{legacy_incident_id('paged', 'alertmanager', key)}'"
        )
    ]
    assert group_runs == [incident_id]  # one incident for the group, never a second one


async def test_an_incident_opened_under_an_older_id_keeps_its_group_until_it_closes(
    dev_env, worker_queue
):
    """Incidents opened before ids came from the group alone (`inc-<runbook>-<hash>`) are found
    by the API's one listing, keep their group's notifications, and resolve; the group's next
    incident takes the new id."""
    key = group()
    body = am(key)
    note = AlertmanagerNotification.model_validate(body).notification()
    old_id = legacy_incident_id("paged", "alertmanager", key)
    await dev_env.client.start_workflow(
        IncidentWorkflow.run,
        incident_input(note, catalogue().route(note.labels)),
        id=old_id,
        task_queue=worker_queue,
        start_signal="alerts",
        start_signal_args=[note.alerts],
    )
    async with (
        await serve_api(dev_env.client) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        api = Api(url, http, dev_env.client)
        await wait_state(api, old_id, lambda s: s.status == "awaiting_approval")
        grown = (await api.post("/v1/alerts/alertmanager", mixed(key))).json()
        assert (grown["incident_id"], grown["outcome"]) == (old_id, "joined")
        done = (await api.post("/v1/alerts/alertmanager", mixed(key, "resolved"))).json()
        assert (done["incident_id"], done["outcome"]) == (old_id, "joined")
        assert (await views.result(api.client, old_id)).status == "resolved"
        again = await api.post("/v1/alerts/alertmanager", am(key, starts_at="2026-11-25T09:00:00Z"))
        assert again.json()["outcome"] == "opened", again.text
        assert again.json()["incident_id"] == incident_id_for("alertmanager", key)


async def settled(api, incident_id, ready, tries=3000):
    """The incident's state once `ready` holds and its workflow task completes at its first
    attempt, polled lightly (the query, and a look at the run): while megabytes of signals
    arrive faster than a task completes, the server fails the task in flight to hand it the new
    ones (and views would read the whole history, to show what it can)."""
    handle = api.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
    for _ in range(tries):
        described = (await handle.describe()).raw_description
        task = (
            described.pending_workflow_task if described.HasField("pending_workflow_task") else None
        )
        if task is None or task.attempt <= 1:
            with contextlib.suppress(WorkflowQueryFailedError, RPCError):
                state = await handle.query(IncidentWorkflow.status)
                if ready(state):
                    return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{incident_id} never settled")


#: Twenty notifications of a thousand distinct alerts each, ~850 characters of labels apiece:
#: every documented limit respected (1,000 alerts per notification, a body under 1 MiB).
NOTIFICATIONS, ALERTS_EACH, LABEL_CHARS = 20, 1_000, 850


def big_notification(key: str, n: int) -> dict:
    """Each alert's `detail` label random hex: the codec's compression (the suite under
    `WARROOM_TEST_ENCRYPT=1`) halves it, no more, so the history grows long enough to continue
    as new, encrypted or not."""
    body = am(key, alerts=1)
    alert = body["alerts"][0]
    labels = {**alert["labels"], "instance": f"host-{n:02d}-0000"}
    pad = LABEL_CHARS - sum(len(k) + len(v) for k, v in labels.items()) - len("detail")
    rng = random.Random(n)
    body["alerts"] = [
        {
            "status": "firing",
            "labels": {
                **labels,
                "instance": f"host-{n:02d}-{i:04d}",
                "detail": rng.randbytes(pad // 2 + 1).hex()[:pad],
            },
            "startsAt": alert["startsAt"],
            "fingerprint": f"fp-{n:02d}-{i:04d}",
        }
        for i in range(ALERTS_EACH)
    ]
    return body


def compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.slow
async def test_twenty_notifications_of_a_thousand_big_alerts_never_stall_the_incident(api):
    key = group()
    bodies = [big_notification(key, n) for n in range(NOTIFICATIONS)]
    first = bodies[0]["alerts"][0]["labels"]
    assert sum(len(k) + len(v) for k, v in first.items()) == LABEL_CHARS
    assert max(len(compact(b)) for b in bodies) < 1024 * 1024  # the default --max-body
    assert len(zlib.compress(compact(bodies[0]))) > len(compact(bodies[0])) // 2.5
    incident_id = ""
    for body in bodies:
        answer = await api.http.post(
            f"{api.url}/v1/alerts/alertmanager",
            content=compact(body),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        incident_id = answer.json()["incident_id"]
    total = NOTIFICATIONS * ALERTS_EACH
    state = await settled(api, incident_id, lambda s: s.alerts_received == total)

    # The state holds whatever arrived: every alert counted, a bounded number with labels.
    shown = await api.get(f"/v1/incidents/{incident_id}")
    assert shown.status_code == 200, shown.text
    got = shown.json()
    assert got["workflow_task_failure"] is None and got["source"] == "workflow"
    assert (got["alerts_total"], got["alerts_firing"]) == (total, total)
    assert len(got["alerts"]) == ALERTS_KEPT_FIRST + ALERTS_KEPT_LATEST
    assert got["alerts_summarised"] == total - len(got["alerts"])
    ordinals = [a["ordinal"] for a in got["alerts"]]
    assert ordinals[0] == 1 and ordinals[-1] == total  # the first and the latest
    assert got["status"] == "awaiting_approval"
    assert f"{total} (" in incident_text(state)  # `warroom show` counts them all
    # ... and the timeline says what was summarised; the incident continued as new on the way.
    events = [e["event"] for e in (await api.get(f"/v1/incidents/{incident_id}/timeline")).json()]
    assert "alerts summarised" in events and "continued as new" in events

    # An alert acknowledged now is processed; people decide; the incident aborts.
    late = am(key, alerts=1)
    late["alerts"][0]["fingerprint"] = "late-one"
    assert (await api.post("/v1/alerts/alertmanager", late)).json()["outcome"] == "joined"
    await settled(api, incident_id, lambda s: s.alerts_total == total + 1)
    # On a loaded machine a decision on this big state may be applied after its answer's
    # deadline: 202 (applied, unconfirmed) then, and the state shows it applied.
    ack = await api.post(f"/v1/incidents/{incident_id}/ack", {"by": "carol"})
    assert ack.status_code in (200, 202) and ack.json().get("applied", True), ack.text
    await settled(api, incident_id, lambda s: s.milestones.acknowledged is not None)
    abort = await api.post(f"/v1/incidents/{incident_id}/abort", {"by": "carol", "reason": "storm"})
    assert abort.status_code in (200, 202) and abort.json().get("applied", True), abort.text
    # The incident closes: its result (no query, which would replay megabytes of signals on a
    # closed run, each time) says aborted.
    handle = api.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
    final = await asyncio.wait_for(handle.result(), timeout=600)
    assert final.status == "aborted"
