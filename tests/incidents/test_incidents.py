"""What `show`, `list` and decisions say about incidents the server ended or that are stalled,
incident ids that do not collide, and inputs checked against the server's limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.fakehttp import FakeHttp
from tests.incidents.buggy import BUG, BuggyIncidentWorkflow, ContinuingIncidentWorkflow
from tests.workflows.test_incident import Handle, awaiting_rollback, gated_runbook, start, step
from warroom.contract.models import Abort, Decision, IncidentInput, StepCommand
from warroom.errors import DecisionRefused
from warroom.incidents import decisions, declare, views
from warroom.incidents.execution import NoWorker
from warroom.incidents.limits import InputTooLarge
from warroom.record.timeline import timeline
from worker import build_worker

#: What the server says when it ends a run over its history limit.
HISTORY_LIMIT = "Workflow history size exceeds limit."


async def listed(client: Client, incident_id: str) -> views.IncidentSummary:
    """The incident's row in `list` (visibility lags: poll, bounded)."""
    for _ in range(200):
        for row in await views.list_incidents(client):
            if row.incident_id == incident_id:
                return row
        await asyncio.sleep(0.05)
    pytest.fail(f"{incident_id} never listed")


async def refusals(client: Client, incident_id: str) -> list[str]:
    """What each human command answers on this incident."""
    said = []
    for kind, payload in (
        ("approve", Decision(step="rollback", by="alice")),
        ("retry", StepCommand(step="rollback", by="alice")),
        ("abort", Abort(by="alice")),
    ):
        with pytest.raises(DecisionRefused) as info:
            await decisions.send(client, incident_id, kind, payload)  # type: ignore[arg-type]
        said.append(str(info.value))
    return said


async def test_terminated_incident_shows_as_terminated_with_the_reason(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    async with build_worker(client, task_queue):
        handle: Handle = await start(client, task_queue, gated_runbook(fake_http))
        await awaiting_rollback(handle, fake_http)
        await handle.terminate(reason=HISTORY_LIMIT)

        state = await views.status(client, handle.id)  # a worker answers over the history
        assert state.source == "workflow"
        assert step(state, "measure").attempts == 1
        assert step(state, "rollback").status == "awaiting_approval"  # its last word ...
        assert state.pending_approvals == []  # ... but nobody is asked to approve anything
        assert state.status == "terminated"
        assert state.execution_status == "terminated"
        assert state.execution_reason is not None
        assert state.execution_reason.startswith(HISTORY_LIMIT)
        assert state.outcome == f"the workflow was terminated: {state.execution_reason}"
        assert state.closed_at is not None
        assert state.is_closed

        closed = f"incident {handle.id} is closed (terminated: {state.execution_reason})"
        assert await refusals(client, handle.id) == [closed] * 3

    row = await listed(client, handle.id)
    assert (row.status, row.execution_status) == ("terminated", "terminated")
    assert row.problem == state.execution_reason
    entries = await timeline(client, handle.id)
    assert (entries[-1].event, entries[-1].detail) == ("terminated", HISTORY_LIMIT)


async def test_terminated_incident_without_a_worker_is_read_from_its_history(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    handle = await start(client, task_queue, gated_runbook(fake_http))  # no worker, ever
    await handle.terminate(reason="declared by mistake")
    state = await views.status(client, handle.id)
    assert state.source == "history"
    assert state.status == "terminated"
    assert state.outcome is not None
    assert state.outcome.startswith("the workflow was terminated: declared by mistake (by ")
    assert state.title == "Checkout rollback" and state.declared_by == "tester"
    assert [s.status for s in state.steps] == ["pending", "pending", "pending"]


async def test_stalled_incident_says_its_workflow_task_keeps_failing(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    async with Worker(client, task_queue=task_queue, workflows=[BuggyIncidentWorkflow]):
        handle = await start(client, task_queue, gated_runbook(fake_http))
        for _ in range(400):  # until the server has retried the failing task (bounded)
            described = await handle.describe()
            if described.raw_description.pending_workflow_task.attempt > 1:
                break
            await asyncio.sleep(0.05)

        state = await views.status(client, handle.id)
        assert state.status == "stalled"
        assert state.execution_status == "running"
        assert state.workflow_task_failure == BUG
        assert state.workflow_task_attempts >= 1
        assert state.outcome is not None and state.outcome.endswith(BUG)
        assert state.source == "history"
        assert state.pending_approvals == []

        with pytest.raises(decisions.NotApplied) as info:
            await decisions.send(client, handle.id, "abort", Abort(by="alice"))
        assert str(info.value) == (
            f"not applied: {handle.id} is stalled, its workflow task keeps failing "
            f"({BUG}); nothing was sent"
        )
        row = await listed(client, handle.id)
        assert (row.status, row.problem) == ("stalled", BUG)
        await handle.terminate(reason="test over")


async def test_a_continued_incident_is_listed_once(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    async with Worker(client, task_queue=task_queue, workflows=[ContinuingIncidentWorkflow]):
        handle = await start(client, task_queue, gated_runbook(fake_http))
        for _ in range(200):  # until the second run is there (bounded)
            if (await handle.describe()).run_id != handle.first_execution_run_id:
                break
            await asyncio.sleep(0.05)
        await listed(client, handle.id)
        rows = [r for r in await views.list_incidents(client) if r.incident_id == handle.id]
        assert len(rows) == 1, rows
        await handle.terminate(reason="test over")


# ---- incident ids and limits ---------------------------------------------------------


def test_incident_ids_of_one_runbook_in_one_second_do_not_collide():
    ids = {declare.new_incident_id("checkout") for _ in range(20_000)}
    assert len(ids) == 20_000


async def test_declare_retries_a_taken_id(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    fake_http: FakeHttp,
    monkeypatch: pytest.MonkeyPatch,
):
    client = dev_env.client
    monkeypatch.setenv("WARROOM_TASK_QUEUE", task_queue)
    rb = gated_runbook(fake_http)
    taken = await declare.declare(client, rb, "first")
    fresh = f"inc-fresh-{uuid.uuid4().hex}"
    chosen: Iterator[str] = iter([taken, fresh])
    monkeypatch.setattr(declare, "new_incident_id", lambda *_: next(chosen))
    assert await declare.declare(client, rb, "twin, same second") == fresh
    for incident_id in (taken, fresh):
        await client.get_workflow_handle(incident_id).terminate(reason="test over")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("summary", "x" * 3_000_000, "at most 2000 characters"),
        ("summary", "", "at least 1 character"),
        ("declared_by", "", "at least 1 character"),
        ("declared_by", "   ", "must not be blank"),
        ("declared_by", "x" * 5000, "at most 100 characters"),
        ("declared_by", "eve\nmallory  approved", "single line without control characters"),
        ("declared_by", "eve\x1b]0;owned\x07", "single line without control characters"),
    ],
)
def test_incident_input_is_within_limits(fake_http: FakeHttp, field: str, value: str, message: str):
    fields = {"runbook": gated_runbook(fake_http), "summary": "ok", "declared_by": "erin"}
    with pytest.raises(ValidationError) as info:
        IncidentInput(**{**fields, field: value})
    assert message in str(info.value)


@pytest.mark.parametrize("by", ["", "a\nb", "\x1b[31mred", "x" * 101, "tab\there"])
def test_every_decision_refuses_a_bad_name(by: str):
    for make in (
        lambda: Decision(step="s", by=by),
        lambda: StepCommand(step="s", by=by),
        lambda: Abort(by=by),
    ):
        with pytest.raises(ValidationError):
            make()


async def test_declare_refuses_what_the_server_would_refuse(
    dev_env: WorkflowEnvironment, fake_http: FakeHttp
):
    rb = gated_runbook(fake_http)
    long_name = rb.model_copy(update={"name": "n" * 5000})
    with pytest.raises(InputTooLarge) as info:
        await declare.declare(dev_env.client, long_name, "summary")
    assert "over the server's limit of 1000" in str(info.value)
    big_service = rb.model_copy(update={"service": "s" * 3000})
    with pytest.raises(InputTooLarge) as info:
        await declare.declare(dev_env.client, big_service, "summary")
    assert "service is 3000 bytes, over the server's limit of 2048" in str(info.value)


async def test_show_without_a_polling_worker_says_so_at_once(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    handle = await start(dev_env.client, task_queue, gated_runbook(fake_http))
    with pytest.raises(NoWorker) as info:
        await views.status(dev_env.client, handle.id)
    assert str(info.value).startswith(f"no worker is polling task queue {task_queue!r}: ")
    await handle.terminate(reason="test over")
