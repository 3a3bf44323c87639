"""The incident lifecycle on the time-skipping server: quorum approvals, approval timeouts,
escalation, severity changes, alerts joining, compensation, continue-as-new."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import (
    Handle,
    abort_and_finish,
    finish,
    runbook,
    start,
    step,
    wait_for,
    worker,
)
from warroom.contract.models import (
    Abort,
    Acknowledge,
    Alert,
    Assign,
    Decision,
    IncidentState,
    Note,
    SetSeverity,
    StepCommand,
)
from warroom.record.metrics import metrics
from warroom.record.timeline import timeline
from workflows.incident import CONTINUE_AFTER_EVENTS, IncidentWorkflow


def texts(fake: FakeHttp, path: str) -> list[str]:
    return [r.body["text"] for r in fake.calls("POST", path)]


def refusals(state: IncidentState) -> list[tuple[str, str, str]]:
    return [(d.kind, d.by, d.refused or "") for d in state.decisions if d.refused]


async def approve(handle: Handle, step_id: str, by: str) -> Any:
    return await handle.execute_update(IncidentWorkflow.approve_step, Decision(step=step_id, by=by))


GATED = """\
name: quorum
title: Quorum
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "FAKE/look"}}
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice, bob, tester], min_approvals: 2}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
"""


async def test_a_quorum_needs_distinct_people_and_never_the_declarer(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(GATED, fake_http))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        # A signal from someone who may not decide: recorded, no effect.
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="carol"))
        first = await approve(handle, "rollback", "alice")
        assert (first.status, first.approved_by) == ("awaiting_approval", ["alice"])
        for by, why in [("alice", "has already approved"), ("tester", "declared the incident")]:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await approve(handle, "rollback", by)
            assert why in str(refused.value.cause)
        second = await approve(handle, "rollback", "bob")
        assert second.status in ("running", "succeeded") and second.approved_by == ["alice", "bob"]
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    assert result.status == "resolved"
    assert len(fake_http.calls("POST", "/rollback")) == 1
    assert step(result, "rollback").decided_by == "alice, bob"
    assert refusals(result) == [
        (
            "approve",
            "carol",
            "carol is not an approver of step 'rollback' (approvers: alice, bob)",
        )
    ]
    # Who may approve never lists the declarer (tester), who never counts: not in the state,
    # not in the timeline's prompt.
    assert step(result, "rollback").approvers == ["alice", "bob"]
    requested = [e.detail for e in entries if e.event == "approval requested"]
    assert requested == ["2 of alice, bob"]


async def test_an_early_approval_is_refused_and_recorded(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    # The first step fails once, so the gate is still closed when the approval comes.
    fake_http.routes[("GET", "/look")] = [Reply(503, {}), Reply(200, {})]
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    rb = runbook(GATED.replace("min_approvals: 2", "min_approvals: 1"), fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="alice"))
        state = await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        assert refusals(state) == [
            ("approve", "alice", "step 'rollback' is not waiting for approval (it is pending)")
        ]
        await abort_and_finish(handle, "tester")


ESCALATING = """\
name: esc
title: Escalating
escalation:
  acknowledge_within: 5m
  levels:
    - {notify: [{action: webhook.post, with: {url: "FAKE/level1"}}]}
    - {wait: 10m, notify: [{action: webhook.post, with: {url: "FAKE/level2"}}]}
steps:
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice], timeout: 30m, on_timeout: escalate}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
"""


def hooks(fake: FakeHttp) -> None:
    for path in ("/level1", "/level2", "/rollback", "/updates", "/undo-a", "/undo-b"):
        fake.routes[("POST", path)] = Reply(200, {})


async def test_nobody_acknowledging_escalates_level_by_level(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(ESCALATING, fake_http))
        await time_env.sleep(timedelta(minutes=6))
        state = await wait_for(handle, lambda s: len(s.escalations) == 1, "level 1")
        assert texts(fake_http, "/level2") == []
        await time_env.sleep(timedelta(minutes=10))
        state = await wait_for(handle, lambda s: len(s.escalations) == 2, "level 2")
        assert [e.level for e in state.escalations] == [1, 2]
        assert "not acknowledged within 5m" in texts(fake_http, "/level1")[0]
        assert texts(fake_http, "/level2")[0].startswith("ESCALATION level 2")
        acked = await handle.execute_update(
            IncidentWorkflow.acknowledge_incident, Acknowledge(by="dana")
        )
        assert acked.roles == {"commander": "dana"} and acked.milestones.acknowledged
        await abort_and_finish(handle, "dana")


async def test_acknowledged_in_time_nobody_is_paged_and_roles_move(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(ESCALATING, fake_http))
        await handle.execute_update(IncidentWorkflow.acknowledge_incident, Acknowledge(by="dana"))
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await handle.execute_update(
                IncidentWorkflow.acknowledge_incident, Acknowledge(by="erin")
            )
        assert "already acknowledged" in str(twice.value.cause)
        state = await handle.execute_update(
            IncidentWorkflow.assign_role, Assign(role="comms", to="erin", by="dana")
        )
        assert state.roles == {"commander": "dana", "comms": "erin"}
        await handle.execute_update(IncidentWorkflow.add_note, Note(text="bridge open", by="erin"))
        await time_env.sleep(timedelta(minutes=20))
        state = await handle.query(IncidentWorkflow.status)
        assert state.escalations == [] and texts(fake_http, "/level1") == []
        await approve(handle, "rollback", "alice")
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    assert result.status == "resolved"
    assert [(d.kind, d.comment) for d in result.decisions if d.kind == "note"] == [
        ("note", "bridge open")
    ]
    told = [(e.event, e.actor, e.detail) for e in entries]
    assert ("acknowledged", "dana", "") in told
    assert ("role assigned", "dana", "comms → erin") in told
    assert ("note", "erin", "bridge open") in told


async def test_an_approval_timeout_escalates_and_a_later_approval_still_counts(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(ESCALATING, fake_http))
        await handle.signal(IncidentWorkflow.acknowledge, Acknowledge(by="dana"))
        await time_env.sleep(timedelta(minutes=31))
        state = await wait_for(handle, lambda s: len(s.escalations) >= 1, "an escalation")
        assert state.status == "awaiting_approval"  # still waiting, not aborted
        assert "approval of rollback timed out after 30m" in state.escalations[0].reason
        await approve(handle, "rollback", "alice")
        result = await finish(handle)
    assert result.status == "resolved"
    assert len(fake_http.calls("POST", "/rollback")) == 1


@pytest.mark.parametrize("on_timeout, status", [("reject", "aborted"), ("approve", "resolved")])
async def test_an_approval_timeout_rejects_or_approves_as_the_runbook_says(
    time_env: WorkflowEnvironment,
    task_queue: str,
    fake_http: FakeHttp,
    on_timeout: str,
    status: str,
):
    hooks(fake_http)
    text = ESCALATING.replace("on_timeout: escalate", f"on_timeout: {on_timeout}")
    async with worker(time_env.client, task_queue):
        result = await finish(await start(time_env.client, task_queue, runbook(text, fake_http)))
    assert result.status == status
    assert len(fake_http.calls("POST", "/rollback")) == (1 if on_timeout == "approve" else 0)


async def test_a_severity_change_re_arms_the_cadence_at_once(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    text = """\
        name: sev
        title: Severity
        severity: SEV2
        cadence: {SEV1: 15m, SEV2: 1h}
        updates: [{action: webhook.post, with: {url: "FAKE/updates"}}]
        steps:
          - id: rollback
            phase: mitigate
            approval: {approvers: [alice]}
            action: http.request
            with: {method: POST, url: FAKE/rollback}
        """
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(text, fake_http))
        await time_env.sleep(timedelta(minutes=30))
        assert texts(fake_http, "/updates") == []
        await handle.execute_update(
            IncidentWorkflow.change_severity, SetSeverity(severity="SEV1", by="dana")
        )
        # From the change on, every 15 minutes: at 45, 60, 75 and 90 minutes. Without the
        # re-arm the SEV2 timer would run to 60 first (60, 75, 90).
        await time_env.sleep(timedelta(minutes=61))
        state = await wait_for(handle, lambda s: s.updates_posted >= 4, "four updates")
        assert state.severity == "SEV1" and state.updates_posted == 4
        assert all(t.startswith("[SEV1]") for t in texts(fake_http, "/updates"))
        await abort_and_finish(handle, "dana")


ALERTED = """\
name: alerted
title: Alerted
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "FAKE/look"}}
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice]}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
  - {id: verify, phase: verify, action: http.request, with: {url: "FAKE/verify"}}
"""


def alert(status: str = "firing", fingerprint: str = "fp1") -> Alert:
    starts = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    return Alert(
        source="alertmanager",
        fingerprint=fingerprint,
        status=status,  # type: ignore[arg-type]
        labels={"alertname": "CheckoutHighErrorRate"},
        starts_at=starts,
    )


async def test_alerts_join_once_each_and_resolving_them_skips_mitigation(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    for path in ("/look", "/verify"):
        fake_http.routes[("GET", path)] = Reply(200, {})
    hooks(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(ALERTED, fake_http))
        for notification in (alert(), alert(), alert(fingerprint="fp2")):  # one delivered twice
            await handle.signal(IncidentWorkflow.alert, notification)
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        await handle.signal(IncidentWorkflow.alert, alert("resolved"))
        state = await handle.query(IncidentWorkflow.status)
        assert state.status == "awaiting_approval"  # fp2 still fires
        await handle.signal(IncidentWorkflow.alert, alert("resolved", "fp2"))
        await handle.signal(IncidentWorkflow.alert, alert("resolved", "fp2"))
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    events = [e.event for e in entries]
    # fp1, fp1 again (the same notification), fp2; each resolved, fp2's twice.
    assert [events.count(f"alert {k}") for k in ("received", "repeated", "resolved")] == [2, 2, 2]
    assert "skipped (alerts resolved)" in events
    # Nothing mitigated it: no "mitigated" on the way; it counts as mitigated once resolved.
    assert "mitigated" not in events
    assert result.milestones.mitigated == result.milestones.resolved
    assert (result.alerts_received, result.alerts_duplicate) == (6, 2)
    assert [(a.fingerprint, a.status, a.notifications) for a in result.alerts] == [
        ("fp1", "resolved", 2),
        ("fp2", "resolved", 2),
    ]
    assert (step(result, "rollback").status, step(result, "rollback").decided_by) == (
        "skipped",
        "alerts resolved",
    )
    assert fake_http.calls("POST", "/rollback") == []
    assert step(result, "verify").status == "succeeded"
    assert result.status == "resolved" and result.milestones.mitigated is not None


async def test_abort_runs_the_compensations_of_completed_steps_newest_first(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    fake_http.routes[("POST", "/a")] = Reply(200, {})
    fake_http.routes[("POST", "/b")] = Reply(200, {})
    text = """\
        name: undo
        title: Undo
        steps:
          - id: a
            phase: mitigate
            action: http.request
            with: {method: POST, url: FAKE/a}
            compensate: {action: http.request, with: {method: POST, url: FAKE/undo-a}}
          - id: b
            phase: mitigate
            action: http.request
            with: {method: POST, url: FAKE/b}
            compensate: {action: http.request, with: {method: POST, url: FAKE/undo-b}}
          - id: c
            phase: mitigate
            approval: {approvers: [alice]}
            action: http.request
            with: {method: POST, url: FAKE/rollback}
            compensate: {action: http.request, with: {method: POST, url: FAKE/undo-c}}
        """
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(text, fake_http))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        result = await handle.execute_update(IncidentWorkflow.abort_incident, Abort(by="dana"))
        # The update answers once aborted; the run then writes its postmortem draft (an
        # activity): wait for its end, or the test server cannot skip time for later tests.
        await finish(handle)
    assert result.status == "aborted"
    assert [r.path for r in fake_http.requests] == ["/a", "/b", "/undo-b", "/undo-a"]


async def test_a_long_incident_continues_as_new_and_keeps_everything(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    """Three days of SEV3 with hourly updates and an alert storm: more history than one run
    keeps, so the incident continues as new, carrying every field."""
    fake_http.routes[("GET", "/look")] = Reply(200, {"version": "v7"})
    hooks(fake_http)
    text = """\
        name: long
        title: Long
        severity: SEV3
        cadence: {SEV3: 1h}
        updates: [{action: webhook.post, with: {url: "FAKE/updates"}}]
        steps:
          - id: look
            phase: triage
            action: http.request
            with: {url: "FAKE/look"}
            outputs: {version: "{{ result.json.version }}"}
          - id: rollback
            phase: mitigate
            approval: {approvers: [alice, bob], min_approvals: 2}
            action: http.request
            with: {method: POST, url: FAKE/rollback, json: {to: "{{ steps.look.version }}"}}
        """
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(text, fake_http))
        first_run = (await handle.describe()).run_id
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        await handle.execute_update(IncidentWorkflow.acknowledge_incident, Acknowledge(by="dana"))
        await approve(handle, "rollback", "alice")  # one of two: carried over
        storm = CONTINUE_AFTER_EVENTS // 4 + 100
        for n in range(storm):
            await handle.signal(IncidentWorkflow.alert, alert(fingerprint=f"fp{n % 500}"))
        for _ in range(12):  # three days, in steps short enough for one RPC on a busy machine
            await time_env.sleep(timedelta(hours=6))
        state = await wait_for(handle, lambda s: s.updates_posted >= 72, "three days of updates")
        assert (await handle.describe()).run_id != first_run  # it did continue as new
        assert state.roles == {"commander": "dana"} and state.milestones.acknowledged
        assert step(state, "rollback").approved_by == ["alice"]
        assert state.alerts_received == storm and state.alerts_total == 500
        # Labels kept for the first 100 and the latest 200 to join; the rest summarised.
        assert [a.ordinal for a in state.alerts] == [*range(1, 101), *range(301, 501)]
        assert state.alerts_summarised == 200 and state.alerts_firing == 500
        second = await approve(handle, "rollback", "bob")
        assert second.approved_by == ["alice", "bob"]
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    # The timeline goes on across the runs: declared once, then both approvals.
    events = [e.event for e in entries]
    assert events[0] == "declared" and events.count("declared") == 1
    assert "continued as new" in events
    assert [e.actor for e in entries if e.event == "approved"] == ["alice", "bob"]
    assert events.index("continued as new") < events.index("closed: resolved")
    assert result.status == "resolved"
    assert fake_http.calls("POST", "/rollback")[0].body == {"to": "v7"}
    assert 72 <= result.updates_posted <= 74
    assert [d.kind for d in result.decisions] == ["acknowledge", "approve", "approve"]


async def test_wait_and_note_steps_run_in_the_workflow(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    text = """\
        name: settle
        title: Settle
        steps:
          - {id: look, phase: triage, action: http.request, with: {url: "FAKE/look"}}
          - {id: settle, phase: mitigate, action: wait, with: {duration: 2h}}
          - {id: tell, phase: communicate, action: note, with: {text: "look {{ steps.look.status }}"}}
        """
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(text, fake_http))
        result = await finish(handle)  # the 2 h timer is skipped while the result is awaited
        entries = await timeline(time_env.client, handle.id)
    assert [(s.id, s.status) for s in result.steps] == [
        ("look", "succeeded"),
        ("settle", "succeeded"),
        ("tell", "succeeded"),
    ]
    assert ("note", "tell", "look succeeded") in [(e.event, e.step, e.detail) for e in entries]
    assert (result.closed_at - result.started_at) >= timedelta(hours=2)
    assert [r.path for r in fake_http.requests] == ["/look"]  # no activity for wait or note


async def test_mitigation_skipped_by_its_condition_never_stamps_mitigated(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    text = """\
        name: unmitigated
        title: Unmitigated
        steps:
          - {id: look, phase: triage, action: http.request, with: {url: "FAKE/look"}}
          - id: rollback
            phase: mitigate
            when: "{{ 1 > 2 }}"
            action: http.request
            with: {method: POST, url: FAKE/rollback}
          - {id: settle, phase: verify, action: wait, with: {duration: 1h}}
        """
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(text, fake_http))
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    assert step(result, "rollback").status == "skipped"
    assert "mitigated" not in [e.event for e in entries]
    assert "status → mitigated" not in [e.detail for e in entries]
    # Not mitigated when verify began (+0s), but when it resolved, an hour later.
    assert result.milestones.mitigated == result.milestones.resolved
    assert metrics(entries).time_to_mitigate == metrics(entries).time_to_resolve >= 3600


async def test_a_notification_with_its_secret_unset_is_skipped_with_a_warning_not_a_pause(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    text = """\
        name: unset
        title: Unset
        steps:
          - id: tell
            phase: communicate
            action: webhook.post
            with: {url: "{{ secret.NOT_SET_ANYWHERE }}", text: "declared"}
          - id: fix
            phase: mitigate
            action: http.request
            with: {method: POST, url: "{{ secret.NOT_SET_ANYWHERE }}/fix"}
        """
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(text, fake_http))
        # The notification is skipped; a step that acts (not a notification) still pauses.
        state = await wait_for(handle, lambda s: s.status == "paused", "the pause")
        await abort_and_finish(handle)
        entries = await timeline(time_env.client, handle.id)
    tell, fix = step(state, "tell"), step(state, "fix")
    assert (tell.status, tell.decided_by) == ("skipped", "secret unset")
    assert tell.error and "NOT_SET_ANYWHERE" in tell.error
    assert fix.status == "failed" and "warroom.SecretMissing" in (fix.error or "")
    warning = next(e for e in entries if e.event == "skipped (secret unset)")
    assert warning.step == "tell" and warning.detail.startswith("warning: nothing sent:")
    assert "WARROOM_SECRET_NOT_SET_ANYWHERE" in warning.detail
    assert fake_http.requests == []


# ---- a decision that lands as the run is due to continue as new ------------------------------

#: Alert signals sent while no worker runs: the next workflow task sees a history past
#: CONTINUE_AFTER_EVENTS together with the decision.
BACKLOG = CONTINUE_AFTER_EVENTS + 100


async def backlog(handle: Handle) -> None:
    for first in range(0, BACKLOG, 200):
        await asyncio.gather(
            *(
                handle.signal(IncidentWorkflow.alert, alert(fingerprint=f"fp{n}"))
                for n in range(first, min(first + 200, BACKLOG))
            )
        )


async def continued_as_new(handle: Handle, first_run: str) -> None:
    """Until the run has continued as new, driven there by a backlog of alert signals."""
    await backlog(handle)
    for _ in range(100):
        if (await handle.describe()).run_id != first_run:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the incident never continued as new")


@pytest.mark.parametrize("decision", ["abort", "reject", "approve"])
async def test_a_decision_taken_as_the_run_is_due_to_continue_as_new_is_applied_and_answered(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp, decision: str
):
    """The decision and a history long enough to continue as new reach the workflow in one
    task. The decision is applied in this run and its caller answered, instead of the run
    waiting to continue as new until the decision's handler finished, which waited for an
    outcome only this run could bring: the incident never closed and the caller never heard."""
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    rb = runbook(GATED, fake_http)
    async with worker(dev_env.client, task_queue):
        handle = await start(dev_env.client, task_queue, rb)
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        await approve(handle, "rollback", "alice")  # one of two
    await backlog(handle)
    if decision == "abort":
        call = handle.execute_update(IncidentWorkflow.abort_incident, Abort(by="carol"))
    elif decision == "reject":
        call = handle.execute_update(
            IncidentWorkflow.reject_step, Decision(step="rollback", by="bob", comment="no")
        )
    else:
        call = handle.execute_update(
            IncidentWorkflow.approve_step, Decision(step="rollback", by="bob")
        )
    answer = asyncio.ensure_future(call)
    await asyncio.sleep(0.5)  # admitted while no worker runs
    async with worker(dev_env.client, task_queue):
        answered = await asyncio.wait_for(answer, 60)
        result = await finish(handle)
    if decision == "approve":
        assert answered.status == "running" and answered.approved_by == ["alice", "bob"]
        assert result.status == "resolved"
    else:
        assert answered.status in ("aborted", "rejected")
        assert result.status == "aborted"
    assert result.alerts_received == BACKLOG


async def test_an_escalation_goes_on_where_it_was_after_continuing_as_new(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(ESCALATING, fake_http))
        first_run = (await handle.describe()).run_id
        await time_env.sleep(timedelta(minutes=6))
        await wait_for(handle, lambda s: len(s.escalations) == 1, "level 1")
        await continued_as_new(handle, first_run)
        await time_env.sleep(timedelta(minutes=12))  # level 2 was due at +15 min
        state = await wait_for(handle, lambda s: len(s.escalations) >= 2, "a second escalation")
        await abort_and_finish(handle, "dana")
    assert (await handle.describe()).run_id != first_run
    assert [e.level for e in state.escalations] == [1, 2]
    assert len(texts(fake_http, "/level1")) == 1


async def test_the_acknowledgement_wait_is_not_restarted_by_continuing_as_new(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(ESCALATING, fake_http))
        first_run = (await handle.describe()).run_id
        await time_env.sleep(timedelta(minutes=2))
        await continued_as_new(handle, first_run)  # 2 min into the 5 min wait
        await time_env.sleep(timedelta(minutes=3, seconds=30))  # level 1 was due at +5 min
        state = await wait_for(handle, lambda s: len(s.escalations) == 1, "level 1 at +5 min")
        await abort_and_finish(handle, "dana")
    assert (await handle.describe()).run_id != first_run
    assert "not acknowledged within 5m" in texts(fake_http, "/level1")[0]
    assert state.escalations[0].level == 1


async def test_an_approval_timeout_runs_from_when_it_was_asked_across_continuing_as_new(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    text = ESCALATING.replace("on_timeout: escalate", "on_timeout: reject")
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(text, fake_http))
        await handle.signal(IncidentWorkflow.acknowledge, Acknowledge(by="dana"))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        first_run = (await handle.describe()).run_id
        await time_env.sleep(timedelta(minutes=10))
        await continued_as_new(handle, first_run)
        await time_env.sleep(timedelta(minutes=21))  # the 30 min ran out at +30
        state = await wait_for(handle, lambda s: s.status == "aborted", "the timeout at +30 min")
        entries = await timeline(time_env.client, handle.id)
    assert state.outcome == "approval of rollback timed out after 30m"
    assert [e.event for e in entries].count("approval requested") == 1  # asked once


async def test_an_approval_escalation_goes_on_where_it_was_across_continuing_as_new(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(ESCALATING, fake_http))
        await handle.signal(IncidentWorkflow.acknowledge, Acknowledge(by="dana"))
        first_run = (await handle.describe()).run_id
        await time_env.sleep(timedelta(minutes=31))  # timed out at +30: level 1
        await wait_for(handle, lambda s: len(s.escalations) == 1, "level 1")
        await continued_as_new(handle, first_run)
        await time_env.sleep(timedelta(minutes=10))  # level 2 at +40
        state = await wait_for(handle, lambda s: len(s.escalations) == 2, "level 2 at +40 min")
        entries = await timeline(time_env.client, handle.id)
        await approve(handle, "rollback", "alice")
        result = await finish(handle)
    assert [e.level for e in state.escalations] == [1, 2]
    assert len(texts(fake_http, "/level1")) == 1
    assert [e.event for e in entries].count("approval timed out") == 1
    assert result.status == "resolved"


PAUSING = """\
name: pausing
title: Pausing
escalation:
  acknowledge_within: 5m
  levels:
    - {notify: [{action: webhook.post, with: {url: "FAKE/level1"}}]}
    - {wait: 10m, notify: [{action: webhook.post, with: {url: "FAKE/level2"}}]}
steps:
  - {id: broken, phase: mitigate, action: http.request, with: {url: "FAKE/broken"}}
"""


async def test_a_paused_steps_escalation_goes_on_where_it_was_across_continuing_as_new(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    hooks(fake_http)
    fake_http.routes[("GET", "/broken")] = Reply(400, {})
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(PAUSING, fake_http))
        await handle.signal(IncidentWorkflow.acknowledge, Acknowledge(by="dana"))
        await wait_for(handle, lambda s: len(s.escalations) == 1, "level 1 as the step pauses")
        first_run = (await handle.describe()).run_id
        await continued_as_new(handle, first_run)
        await time_env.sleep(timedelta(minutes=10, seconds=30))  # level 2 at +10 min
        state = await wait_for(handle, lambda s: len(s.escalations) == 2, "level 2 at +10 min")
        await handle.signal(IncidentWorkflow.skip_step, StepCommand(step="broken", by="dana"))
        result = await finish(handle)
    assert [e.level for e in state.escalations] == [1, 2]
    assert "step broken failed and waits for a person" in state.escalations[1].reason
    assert len(texts(fake_http, "/level1")) == 1
    assert result.status == "resolved"
