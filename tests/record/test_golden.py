"""Golden timelines of whole incidents on the time-skipping server, volatile fields (ids,
times, ports, paths) normalised: `UPDATE_GOLDEN=1 pytest tests/record` rewrites them."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import abort_and_finish, finish, runbook, start, wait_for
from tests.workflows.test_lifecycle import alert
from warroom.contract.models import Decision, SetSeverity, StepCommand
from warroom.record.metrics import metrics
from warroom.record.postmortem import postmortem
from warroom.record.timeline import TimelineEntry, story, timeline
from worker import build_worker
from workflows.incident import CONTINUE_AFTER_EVENTS, IncidentWorkflow

GOLDEN = Path(__file__).parent / "golden"

RUNBOOK = """\
name: golden
title: Golden checkout
severity: SEV2
cadence: {SEV1: 15m, SEV2: 1h}
updates: [{action: webhook.post, with: {url: "FAKE/updates"}}]
escalation:
  acknowledge_within: 30m
  levels: [{notify: [{action: webhook.post, with: {url: "FAKE/page"}}]}]
steps:
  - id: look
    phase: triage
    action: http.request
    with: {url: "FAKE/look"}
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice, bob], timeout: 10m, on_timeout: escalate}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
    retry: {max_attempts: 2, initial_interval: 1s}
    on_failure: pause
  - id: verify
    phase: verify
    action: http.request
    with: {url: "FAKE/verify"}
"""


def normalised(entries: list[TimelineEntry], incident_id: str, fake: FakeHttp) -> str:
    lines = []
    for e in entries:
        who = f"{e.actor} ({e.source})" if e.actor else e.source
        row = f"run {e.run} | {e.event} | {e.step or ''} | {e.phase or ''} | {who} | {e.detail}"
        row = row.replace(incident_id, "INC").replace(fake.url, "FAKE")
        row = re.sub(r"draft at \S+", "draft at PATH", row)
        lines.append(re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", row))
    return "\n".join(lines) + "\n"


def check(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"timeline differs from {path} (UPDATE_GOLDEN=1 rewrites)"


@pytest.fixture
def world(fake_http: FakeHttp) -> FakeHttp:
    for method, path in (("GET", "/look"), ("POST", "/rollback"), ("GET", "/verify")):
        fake_http.routes[(method, path)] = Reply(200, {})
    for path in ("/updates", "/page"):
        fake_http.routes[("POST", path)] = Reply(200, {})
    return fake_http


async def continued(handle):  # type: ignore[no-untyped-def]
    """Until the run has continued as new and the new run has taken its first workflow task
    (its gate asked again): an approval sent earlier races the continue-as-new on a busy machine."""
    for _ in range(200):
        if (await handle.describe()).run_id != handle.first_execution_run_id:
            await handle.query(IncidentWorkflow.status)  # answered once the new run has started
            return
        await asyncio.sleep(0.05)
    pytest.fail("the incident never continued as new")


async def gate(handle):  # type: ignore[no-untyped-def]
    return await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")


async def test_declared_by_an_alert_and_severity_changed_mid_incident(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp
):
    client = time_env.client
    async with build_worker(client, task_queue):
        handle = await opened_by(client, task_queue, world, "alert", alert())
        await handle.signal(IncidentWorkflow.alert, alert())  # the same notification again
        await handle.execute_update(
            IncidentWorkflow.change_severity, SetSeverity(severity="SEV1", by="alice")
        )
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="mallory"))
        await handle.execute_update(
            IncidentWorkflow.approve_step, Decision(step="rollback", by="bob", comment="go")
        )
        await handle.signal(IncidentWorkflow.alert, alert("resolved"))
        state = await finish(handle)
        entries = await timeline(client, handle.id)
    check("alert-severity", normalised(entries, handle.id, world))
    # The alert that opened it counts once, as the workflow counts it.
    assert metrics(entries).alerts_received == state.alerts_received == 3


async def test_an_alerts_signal_is_told_alert_by_alert_as_the_workflow_applies_it(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp
):
    client = time_env.client
    async with build_worker(client, task_queue):
        # What the API sends: a notification's alerts at once.
        batch = [alert(fingerprint="fp1"), alert(fingerprint="fp2")]
        handle = await opened_by(client, task_queue, world, "alerts", batch)
        await handle.signal(IncidentWorkflow.alerts, [alert(fingerprint="fp1")])
        await handle.signal("alerts", [{"fingerprint": ""}])  # malformed: dropped whole
        await handle.signal(
            IncidentWorkflow.alerts, [alert("resolved", "fp1"), alert("resolved", "fp2")]
        )
        state = await finish(handle)  # every alert resolved: the mitigation is skipped
        entries = await timeline(client, handle.id)
    told = [(e.event, e.detail) for e in entries if "alert" in f"{e.source} {e.event} {e.detail}"]
    assert told == [
        ("declared", "SEV2 Golden checkout — 5xx after deploy (alert CheckoutHighErrorRate)"),
        ("alert received", "CheckoutHighErrorRate (fp1)"),
        ("alert received", "CheckoutHighErrorRate (fp2)"),
        ("alert repeated", "CheckoutHighErrorRate (fp1)"),
        ("malformed signal ignored", "alerts"),
        ("alert resolved", "CheckoutHighErrorRate (fp1)"),
        ("alert resolved", "CheckoutHighErrorRate (fp2)"),
        ("alerts resolved", "every alert resolved; on_alert_resolved: skip_mitigation"),
        ("skipped (alerts resolved)", ""),
    ]
    assert state.alerts_received == 5 and state.alerts_duplicate == 1
    assert metrics(entries).alerts_received == state.alerts_received


async def opened_by(client, task_queue: str, world: FakeHttp, signal: str, payload):  # type: ignore[no-untyped-def]
    """An incident opened by signal-with-start (as an alert opens one), at its gate."""
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        (await start_input(world)),
        id=f"inc-golden-{signal}",
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=[payload],
    )
    await gate(handle)
    return handle


async def start_input(fake: FakeHttp):  # type: ignore[no-untyped-def]
    from warroom.contract.models import IncidentInput

    return IncidentInput(
        runbook=runbook(RUNBOOK, fake), summary="5xx after deploy", declared_by="alertmanager"
    )


async def test_approval_granted_after_a_timeout_and_escalation(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp
):
    async with build_worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(RUNBOOK, world))
        await gate(handle)
        await time_env.sleep(timedelta(minutes=11))
        await wait_for(handle, lambda s: bool(s.escalations), "the escalation")
        await handle.execute_update(
            IncidentWorkflow.approve_step, Decision(step="rollback", by="alice")
        )
        await finish(handle)
        entries = await timeline(time_env.client, handle.id)
        draft = postmortem(await story(time_env.client, handle.id))
    check("approval-timeout", normalised(entries, handle.id, world))
    decisions = draft.split("## Decisions")[1].split("##")[0]
    assert "| approval timed out | rollback |" in decisions
    assert "| alice | approved | rollback |" in decisions


async def test_a_failed_step_retried_by_hand_and_its_postmortem(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    monkeypatch.setenv("WARROOM_POSTMORTEM_DIR", str(tmp_path))
    world.routes[("POST", "/rollback")] = Reply(500, {"error": "deploy API down"})
    async with build_worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(RUNBOOK, world))
        await gate(handle)
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="alice"))
        # The pause escalates at once; retried only after that, so the order is always the same.
        await wait_for(handle, lambda s: s.status == "paused" and bool(s.escalations), "the pause")
        world.routes[("POST", "/rollback")] = Reply(200, {})
        await handle.execute_update(
            IncidentWorkflow.retry_failed_step, StepCommand(step="rollback", by="bob")
        )
        await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    check("retried-by-hand", normalised(entries, handle.id, world))
    draft = (tmp_path / f"{handle.id}.md").read_text()
    # Every decision and every failure is in the postmortem.
    for e in entries:
        if e.source == "person" and e.event != "declared":
            assert f"| {e.actor} | {e.event} | {e.step or ''} |" in draft
        if e.event == "step failed":
            assert e.error and e.error in draft
    assert "| Action | Owner | Due date |" in draft and "## Root cause" in draft
    # Written as the incident closes, before the run completes: it knows it is resolved.
    assert "still open" not in draft and "so far" not in draft
    assert re.search(r"; resolved \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", draft)
    assert "Time to resolve: -" not in draft


async def test_continued_as_new_in_the_middle(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp
):
    async with build_worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(RUNBOOK, world))
        await gate(handle)
        storm = CONTINUE_AFTER_EVENTS // 2 + 100
        for n in range(storm):
            await handle.signal(IncidentWorkflow.alert, alert(fingerprint=f"fp{n % 5}"))
        await wait_for(handle, lambda s: s.alerts_received == storm, "the storm")
        await continued(handle)
        await handle.execute_update(
            IncidentWorkflow.approve_step, Decision(step="rollback", by="alice")
        )
        await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    assert sum(1 for e in entries if e.source == "alert") == storm
    assert [e.event for e in entries].count("continued as new") >= 1
    quiet = [e for e in entries if e.source != "alert"]  # the storm is counted, not kept
    check("continued-as-new", normalised(quiet, handle.id, world))


async def test_a_reused_id_tells_only_its_latest_incident(
    dev_env: WorkflowEnvironment, task_queue: str, world: FakeHttp
):
    """On the dev server, whose visibility lists both closed runs of the id, so that a reader
    that read every run of the id (not only the latest chain) fails here; the time-skipping
    server cannot list workflows at all."""
    client, incident_id = dev_env.client, f"inc-reused-{task_queue}"
    async with build_worker(client, task_queue):
        for summary in ("the first one", "the second one"):
            handle = await client.start_workflow(
                IncidentWorkflow.run,
                (await start_input(world)).model_copy(update={"summary": summary}),
                id=incident_id,
                task_queue=task_queue,
            )
            await gate(handle)
            await abort_and_finish(handle)
    for _ in range(100):  # visibility catches up with the close a moment later
        listed = client.list_workflows(f"WorkflowId = '{incident_id}'")
        if len([w async for w in listed]) == 2:  # both are there to be read by mistake
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the dev server never listed both incidents of the id")
    entries = await timeline(client, incident_id)
    declared = [e.detail for e in entries if e.event == "declared"]
    assert declared == ["SEV2 Golden checkout — the second one"]
    assert [e.event for e in entries].count("aborted") == 1
