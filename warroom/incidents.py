"""Client-side operations on incidents (declare, show, decide, list), shared by the CLI and the demo."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from warroom import search_attributes as sa
from warroom.client import task_queue
from warroom.errors import DecisionRefused, IncidentNotFound, WarroomError
from warroom.models import Decision, IncidentInput, IncidentState, StepState
from warroom.runbook import Runbook, Severity
from warroom.timeline import activity_steps
from workflows.incident import IncidentWorkflow

T = TypeVar("T")

#: How long a command waits for a worker to answer a query or an update.
WORKER_WAIT = 15.0


class NoWorker(WarroomError):
    def __init__(self) -> None:
        super().__init__(
            f"no worker answered within {WORKER_WAIT:.0f}s: "
            "start one with `warroom dev` (embedded) or `warroom worker`"
        )


class IncidentSummary(BaseModel):
    """One line of `warroom list`."""

    incident_id: str
    status: str
    severity: str
    phase: str
    runbook: str
    service: str
    started_at: datetime | None
    closed_at: datetime | None


def new_incident_id(runbook: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"inc-{runbook}-{stamp}-{secrets.token_hex(2)}"


async def declare(
    client: Client,
    runbook: Runbook,
    summary: str,
    *,
    severity: Severity | None = None,
    declared_by: str = "unknown",
    incident_id: str | None = None,
) -> str:
    """Start the incident workflow; returns the incident id."""
    incident_id = incident_id or new_incident_id(runbook.name)
    await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(runbook=runbook, summary=summary, severity=severity, declared_by=declared_by),
        id=incident_id,
        task_queue=task_queue(),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    return incident_id


async def _bounded(call: Awaitable[T]) -> T:
    """Wait for something only a worker can answer, no longer than WORKER_WAIT."""
    try:
        return await asyncio.wait_for(call, WORKER_WAIT)
    except TimeoutError:
        raise NoWorker() from None


def _not_found(exc: RPCError, incident_id: str) -> WarroomError | RPCError:
    return IncidentNotFound(incident_id) if exc.status == RPCStatusCode.NOT_FOUND else exc


async def status(client: Client, incident_id: str) -> IncidentState:
    """The incident's state: its result once closed, else the live `status` query."""
    handle: WorkflowHandle[IncidentWorkflow, IncidentState] = client.get_workflow_handle_for(
        IncidentWorkflow.run, incident_id
    )
    try:
        described = await handle.describe()
        if described.status == WorkflowExecutionStatus.COMPLETED:
            return await result(client, incident_id)
        state = await _bounded(handle.query(IncidentWorkflow.status))
    except RPCError as exc:
        raise _not_found(exc, incident_id) from exc
    pending = described.raw_description.pending_activities
    if pending and any(s.status == "running" for s in state.steps):
        await _add_live_attempts(client, state, pending)
    return state


async def _add_live_attempts(
    client: Client, state: IncidentState, pending: Sequence[PendingActivityInfo]
) -> None:
    """The workflow learns a step's attempts only when it ends; the server knows them live.

    Pending activities carry only their activity id, so the history says which step each is.
    """
    steps = await activity_steps(client, state.incident_id)
    for activity in pending:
        step = next((s for s in state.steps if s.id == steps.get(activity.activity_id)), None)
        if step is not None and step.status == "running":
            step.attempts += activity.attempt
            step.error = activity.last_failure.message or None


async def result(client: Client, incident_id: str) -> IncidentState:
    """Wait until the incident's workflow has completed; its final state."""
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
    return await handle.result()


async def decide(
    client: Client, incident_id: str, kind: Literal["approve", "reject"], decision: Decision
) -> StepState:
    """Approve or reject a waiting step; refused at once (DecisionRefused) when it cannot apply."""
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
    update = IncidentWorkflow.approve_step if kind == "approve" else IncidentWorkflow.reject_step
    try:
        return await _bounded(handle.execute_update(update, decision))
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise DecisionRefused(getattr(cause, "message", None) or str(cause)) from exc
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
        # The server says the same for a closed incident as for none at all: tell them apart.
        state = await status(client, incident_id)  # IncidentNotFound when there is none
        raise DecisionRefused(f"incident {incident_id} is closed ({state.status})") from exc


async def list_incidents(client: Client, *, limit: int = 50) -> list[IncidentSummary]:
    """Newest first."""
    found: list[IncidentSummary] = []
    async for wf in client.list_workflows("WorkflowType = 'IncidentWorkflow'", limit=limit):
        attrs = wf.typed_search_attributes
        found.append(
            IncidentSummary(
                incident_id=wf.id,
                status=attrs.get(sa.STATUS)
                or ("active" if wf.status == WorkflowExecutionStatus.RUNNING else "ended"),
                severity=attrs.get(sa.SEVERITY) or "",
                phase=attrs.get(sa.PHASE) or "",
                runbook=attrs.get(sa.RUNBOOK) or "",
                service=attrs.get(sa.SERVICE) or "",
                started_at=wf.start_time,
                closed_at=wf.close_time,
            )
        )
    return found
