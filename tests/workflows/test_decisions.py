"""Human decisions in IncidentWorkflow: deadlines enforced with workflow time, retry/skip/abort
as validated updates, and every decision recorded in state, accepted or refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import (
    _paused_on_client_error,
    awaiting_rollback,
    finish,
    gated_runbook,
    refused,
    start,
    step,
    wait_for,
    worker,
)
from warroom.contract.models import Abort, Decision, DecisionRecord, StepCommand
from workflows.incident import IncidentWorkflow

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


def outcomes(records: list[DecisionRecord]) -> list[tuple[str, str, str, str | None]]:
    return [(r.kind, r.by, r.via, r.refused) for r in records]


async def test_a_decision_past_its_deadline_is_refused_by_update_and_by_signal(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    late = Decision(step="rollback", by="alice", deadline=LONG_AGO)
    async with worker(dev_env.client, task_queue):
        handle = await start(dev_env.client, task_queue, gated_runbook(fake_http))
        await awaiting_rollback(handle, fake_http)

        message = await refused(handle, IncidentWorkflow.approve_step, late)
        assert message == "arrived after its deadline (00:00:00 UTC)"
        # The same decision as a plain signal: refused too, and recorded with the reason.
        await handle.signal(IncidentWorkflow.approve, late)
        state = await wait_for(handle, lambda s: len(s.decisions) == 1, "the refused signal")
        assert outcomes(state.decisions) == [
            ("approve", "alice", "signal", "arrived after its deadline (00:00:00 UTC)")
        ]
        assert step(state, "rollback").status == "awaiting_approval"
        assert fake_http.calls("POST", "/rollback") == []

        # In time, it applies.
        answer = await handle.execute_update(
            IncidentWorkflow.approve_step,
            Decision(step="rollback", by="bob", comment="go", deadline=soon()),
        )
        assert answer.decided_by == "bob"
        result = await finish(handle)

    assert result.status == "resolved"
    assert outcomes(result.decisions)[-1] == ("approve", "bob", "update", None)
    assert result.decisions[-1].comment == "go"
    assert len(fake_http.calls("POST", "/rollback")) == 1


async def test_refused_plain_signals_are_recorded_with_who_and_why(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, gated_runbook(fake_http))
        await awaiting_rollback(handle, fake_http)
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="mallory"))
        await handle.signal(IncidentWorkflow.retry_step, StepCommand(step="measure", by="dana"))
        await handle.signal(IncidentWorkflow.reject, Decision(step="rollback", by="alice"))
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="bob"))
        result = await finish(handle)

    assert result.outcome == "rollback rejected by alice"
    *first, late = outcomes(result.decisions)
    assert first == [
        ("approve", "mallory", "signal", "mallory is not an approver of step 'rollback' (approvers: alice, bob)"),
        ("retry", "dana", "signal", "step 'measure' has not failed (it is succeeded)"),
        ("reject", "alice", "signal", None),
    ]  # fmt: skip
    # Bob's approval reaches the workflow in the task that applies the rejection, or in a later
    # one while the closed incident writes its postmortem draft: refused either way.
    assert late[:3] == ("approve", "bob", "signal")
    assert late[3] in (
        "step 'rollback' was already rejected by alice",
        "the incident is closed (aborted)",
    )
    assert all(r.at >= result.started_at for r in result.decisions)


async def test_retry_and_skip_updates_answer_with_the_step_or_the_reason(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    retry, skip = IncidentWorkflow.retry_failed_step, IncidentWorkflow.skip_failed_step
    async with worker(dev_env.client, task_queue):
        handle, _ = await _paused_on_client_error(dev_env.client, task_queue, fake_http)
        assert await refused(handle, retry, StepCommand(step="look", by="bo")) == (
            "step 'look' has not failed (it is succeeded)"
        )
        assert await refused(handle, skip, StepCommand(step="nope", by="bo")) == (
            "no step 'nope' in this incident (steps: look, flag, verify)"
        )
        late = StepCommand(step="flag", by="bo", deadline=LONG_AGO)
        assert (await refused(handle, skip, late)).startswith("arrived after its deadline")

        fake_http.routes[("POST", "/flag")] = Reply(200, {})
        retried = await asyncio.wait_for(
            handle.execute_update(retry, StepCommand(step="flag", by="bo")), 30
        )
        assert retried.id == "flag" and retried.status != "failed"
        assert retried.decided_by == "bo"
        result = await finish(handle)

    assert result.status == "resolved"
    assert step(result, "flag").attempts == 2


async def test_abort_update_answers_with_the_closed_incident(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    abort = IncidentWorkflow.abort_incident
    async with worker(dev_env.client, task_queue):
        handle, _ = await _paused_on_client_error(dev_env.client, task_queue, fake_http)
        assert (await refused(handle, abort, Abort(by="bo", deadline=LONG_AGO))).startswith(
            "arrived after its deadline"
        )
        state = await asyncio.wait_for(
            handle.execute_update(abort, Abort(by="bo", reason="by hand", deadline=soon())), 30
        )
        assert state.status == "aborted"
        assert state.outcome == "aborted by bo: by hand"
        result = await finish(handle)
    assert outcomes(result.decisions) == [("abort", "bo", "update", None)]
    assert fake_http.calls("GET", "/verify") == []


async def test_the_state_keeps_the_latest_decisions_and_counts_the_older_ones(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    from warroom.contract.models import DECISIONS_KEPT

    async with worker(dev_env.client, task_queue):
        handle = await start(dev_env.client, task_queue, gated_runbook(fake_http))
        await awaiting_rollback(handle, fake_http)
        extra = 7
        for i in range(DECISIONS_KEPT + extra):  # in order, so "the oldest" is known
            await handle.signal(IncidentWorkflow.approve, Decision(step="nope", by=f"p{i}"))
        state = await wait_for(
            handle, lambda s: s.decisions_not_kept == extra, "older decisions counted"
        )
    assert len(state.decisions) == DECISIONS_KEPT
    assert {d.by for d in state.decisions} == {
        f"p{i}" for i in range(extra, DECISIONS_KEPT + extra)
    }
    assert all(d.refused for d in state.decisions)
