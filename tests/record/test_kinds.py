"""Timeline kinds the golden scenarios do not reach: a step skipped by its condition, a
compensation run, a status update that failed, a step cut short when the incident ended."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Recorded, Reply
from tests.workflows.test_incident import (
    abort_and_finish,
    finish,
    runbook,
    start,
    step,
    wait_for,
)
from warroom.contract.models import Decision
from warroom.record.metrics import metrics
from warroom.record.timeline import TimelineEntry, recorded_state, story, timeline
from worker import build_worker
from workflows.incident import IncidentWorkflow

UNDONE = """\
name: undone
title: Undone checkout
updates: [{action: webhook.post, with: {url: "FAKE/updates"}}]
steps:
  - id: drain
    phase: triage
    action: http.request
    with: {method: POST, url: FAKE/drain}
    compensate: {action: webhook.post, with: {url: "FAKE/undrain", text: "undrained"}}
  - id: page-dba
    phase: triage
    when: "{{ 1 > 2 }}"
    action: http.request
    with: {url: FAKE/page}
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice]}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
"""


def told(entries: list[TimelineEntry]) -> list[tuple[str, str | None, str | None]]:
    return [(e.event, e.step, e.actor) for e in entries]


async def test_skipped_by_condition_compensated_and_a_failed_status_update(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/drain")] = Reply(200, {})
    fake_http.routes[("POST", "/undrain")] = Reply(200, {})
    fake_http.routes[("POST", "/updates")] = Reply(500, {"error": "status page down"})
    async with build_worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(UNDONE, fake_http))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        await handle.signal(
            IncidentWorkflow.reject, Decision(step="rollback", by="alice", comment="too risky")
        )
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)
        recorded = recorded_state(await story(time_env.client, handle.id))
    # Undone, and said so: in the state, and in the state the history tells.
    assert step(result, "drain").status == "compensated"
    assert step(recorded, "drain").status == "compensated"
    events = told(entries)
    assert ("skipped (condition)", "page-dba", None) in events
    skipped = next(e for e in entries if e.event == "skipped (condition)")
    assert skipped.source == "automation" and "1 > 2" in skipped.detail
    assert ("step started", "page-dba", None) not in events
    rejected = events.index(("rejected", "rollback", "alice"))
    compensated = events.index(("compensated", "drain", None))
    assert rejected < compensated < events.index(("closed: aborted", None, None))
    failed = [e for e in entries if e.event == "status update failed"]
    assert len(failed) == 1 and failed[0].attempt == 3 and failed[0].error
    assert "status page down" in failed[0].error
    assert metrics(entries).updates_failed == 1


async def test_a_step_cut_short_by_the_end_of_the_incident_is_told_cancelled(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    """On the dev server: the step's activity really runs (its peer holds the answer back,
    a peer of its own so the others answer) while the incident is aborted."""
    running, release = threading.Event(), threading.Event()

    def slow(_: Recorded) -> Reply:
        running.set()
        release.wait(60)
        return Reply(200, {})

    fake_http.routes[("POST", "/updates")] = Reply(200, {})
    with FakeHttp() as held:
        held.routes[("POST", "/drain")] = slow
        rb = runbook(UNDONE.replace("FAKE/drain", f"{held.url}/drain"), fake_http)
        try:
            async with build_worker(dev_env.client, task_queue):
                handle = await start(dev_env.client, task_queue, rb)
                assert await asyncio.to_thread(running.wait, 60), "the step never ran"
                await abort_and_finish(handle, by="dana")
                entries = await timeline(dev_env.client, handle.id)
                release.set()  # the worker waits for its running activity to stop
        finally:
            release.set()
    events = told(entries)
    cut = events.index(("step cancelled", "drain", None))
    assert events.index(("aborted", None, "dana")) < cut
    assert cut < events.index(("closed: aborted", None, None))
    assert ("step succeeded", "drain", None) not in events
    assert ("compensated", "drain", None) not in events  # it never completed: nothing to undo


def test_alerts_received_counts_the_notifications_not_the_declaration_they_opened():
    """As the workflow counts them: an incident an alert opened is declared by that alert."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    entries = [
        TimelineEntry(time=now, event=event, source="alert")
        for event in ("declared", "alert received", "alert repeated")
    ]
    assert metrics(entries).alerts_received == 2
