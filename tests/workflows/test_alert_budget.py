"""The incident's alert budget on the time-skipping server: every alert is counted and tracked,
only the first and the latest keep their labels (within a byte budget), the rest are summarised
with a timeline record; duplicates, resolution and alerts beyond the tracked ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import abort_and_finish, finish, runbook, start, wait_for, worker
from warroom.contract.models import (
    ALERTS_KEPT_BYTES,
    ALERTS_KEPT_FIRST,
    ALERTS_KEPT_LATEST,
    Alert,
    IncidentState,
)
from warroom.record.timeline import timeline
from workflows import alerts as alerts_room
from workflows.incident import IncidentWorkflow

RESOLVING = """\
name: resolving
title: Resolving
on_alert_resolved: resolve
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "FAKE/look"}}
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice]}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
"""
STARTS = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def alerts(first: int, count: int, status: str = "firing", pad: int = 0) -> list[Alert]:
    return [
        Alert(
            source="alertmanager",
            fingerprint=f"fp-{n}",
            status=status,  # type: ignore[arg-type]
            labels={"alertname": "DiskFull", "instance": f"host-{n}", "pad": "x" * pad},
            starts_at=STARTS,
        )
        for n in range(first, first + count)
    ]


def kept(state: IncidentState) -> list[int]:
    return [a.ordinal or 0 for a in state.alerts]


async def test_every_alert_is_counted_the_first_and_latest_keep_their_labels(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(RESOLVING, fake_http))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        for first in (0, 400, 800):
            await handle.signal(IncidentWorkflow.alerts, alerts(first, 400))
        await handle.signal(IncidentWorkflow.alerts, alerts(0, 400))  # the first, again
        state = await wait_for(handle, lambda s: s.alerts_received == 1600, "every alert")
        assert (state.alerts_total, state.alerts_firing, state.alerts_duplicate) == (
            1200,
            1200,
            400,
        )
        first, latest = range(1, ALERTS_KEPT_FIRST + 1), range(1200 - ALERTS_KEPT_LATEST + 1, 1201)
        assert kept(state) == [*first, *latest]
        assert state.alerts_summarised == 1200 - len(state.alerts)
        assert state.alerts[0].labels["instance"] == "host-0"  # whole, labels and all

        # Every alert resolves (the summarised ones too): the incident resolves.
        for first in (0, 400, 800):
            await handle.signal(IncidentWorkflow.alerts, alerts(first, 400, "resolved"))
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)
    assert result.status == "resolved" and result.alerts_firing == 0
    assert {a.status for a in result.alerts} == {"resolved"}
    summaries = [e.detail for e in entries if e.event == "alerts summarised"]
    assert len(summaries) == 3  # one record per signal that summarised alerts
    assert summaries[0].startswith("100 alerts counted without their labels; 400 alerts in all")
    assert summaries[-1].startswith("400 alerts counted without their labels; 1200 alerts in all")


async def test_big_alerts_keep_their_labels_within_the_byte_budget(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(RESOLVING, fake_http))
        for first in range(0, 120, 30):  # 120 alerts of ~30,000 characters each
            await handle.signal(IncidentWorkflow.alerts, alerts(first, 30, pad=30_000))
        state = await wait_for(handle, lambda s: s.alerts_total == 120, "every alert")
        size = sum(len(a.model_dump_json().encode()) for a in state.alerts)
        assert 0 < size <= ALERTS_KEPT_BYTES
        first = [o for o in kept(state) if o <= ALERTS_KEPT_FIRST]
        assert first == list(range(1, len(first) + 1))  # the first ones, in order
        assert kept(state)[-1] == 120  # and the latest
        assert state.alerts_summarised == 120 - len(state.alerts)
        await abort_and_finish(handle)


async def test_a_late_repeat_of_a_resolved_alert_changes_nothing(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(RESOLVING, fake_http))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        both = alerts(0, 2)
        await handle.signal(IncidentWorkflow.alerts, both)
        await handle.signal(IncidentWorkflow.alerts, alerts(0, 1, "resolved"))
        await handle.signal(IncidentWorkflow.alerts, both[:1])  # fp-0's firing, delivered late
        state = await wait_for(handle, lambda s: s.alerts_received == 4, "four notifications")
        assert (state.alerts_firing, state.alerts_duplicate) == (1, 1)
        await handle.signal(IncidentWorkflow.alerts, alerts(1, 1, "resolved"))
        assert (await finish(handle)).status == "resolved"


async def test_alerts_beyond_the_tracked_ones_are_counted_and_leave_the_incident_to_people(
    time_env: WorkflowEnvironment,
    task_queue: str,
    fake_http: FakeHttp,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(alerts_room, "ALERTS_TRACKED_MOST", 50)  # the worker runs in-process
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, runbook(RESOLVING, fake_http))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
        await handle.signal(IncidentWorkflow.alerts, alerts(0, 60))
        await handle.signal(IncidentWorkflow.alerts, alerts(0, 50, "resolved"))
        state = await wait_for(handle, lambda s: s.alerts_received == 110, "every alert")
        assert (state.alerts_total, state.alerts_untracked, state.alerts_firing) == (50, 10, 0)
        assert state.status == "awaiting_approval"  # not resolved: ten alerts went untracked
        entries = await timeline(time_env.client, handle.id)
        told = [e.detail for e in entries if e.event == "alerts summarised"]
        assert any("10 notifications about alerts beyond the 50 tracked" in t for t in told)
        await abort_and_finish(handle)
