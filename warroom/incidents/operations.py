"""Client-side operations on incidents (declare, show, decide, list), shared by the CLI and the demo."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from warroom.contract import search_attributes as sa
from warroom.contract.client import task_queue
from warroom.contract.models import HumanDecision, IncidentInput, IncidentState, StepState
from warroom.errors import IncidentNotFound, WarroomError
from warroom.incidents import decisions, execution
from warroom.language.params import coerce_params
from warroom.language.runbook import Runbook, Severity
from warroom.language.teams import Teams, resolve_approvers
from warroom.record.timeline import activity_steps, recorded_state
from warroom.text import clip, escape
from workflows.incident import IncidentWorkflow

T = TypeVar("T")

#: How long a command waits for a worker to answer a query.
WORKER_WAIT = 15.0
#: Random bits in an incident id: two declares of one runbook in the same second collide
#: with odds of about one in 2**40 (and a collision is retried anyway).
ID_RANDOM_BYTES = 5
#: How many fresh ids `declare` tries when one is taken.
ID_ATTEMPTS = 3
#: The server's longest workflow id (`limit.maxIDLength`, 1,000 by default).
MAX_ID_CHARS = 1000
#: The server's largest search attribute value (`limit.searchAttributeSizeLimit`: 2 KiB).
MAX_SEARCH_ATTRIBUTE_BYTES = 2048
#: The server refuses a payload over 2 MiB (`limit.blobSize.error`); the SDK warns at 512 KiB.
MAX_INPUT_BYTES = 2 * 1024 * 1024
#: Longest incident summary on the incident's one line in the Temporal UI (the full summary
#: is in its details).
UI_SUMMARY_CHARS = 200


class NoWorker(WarroomError):
    def __init__(self, task_queue: str | None = None) -> None:
        what = (
            f"no worker is polling task queue {task_queue!r}"
            if task_queue
            else f"no worker answered within {WORKER_WAIT:.0f}s"
        )
        super().__init__(f"{what}: start one with `warroom dev` (embedded) or `warroom worker`")


class IncidentSummary(BaseModel):
    """One line of `warroom list`."""

    incident_id: str
    status: str
    severity: str
    phase: str
    runbook: str
    service: str
    #: Who is commander ("" while nobody is).
    commander: str = ""
    started_at: datetime | None
    closed_at: datetime | None
    #: Temporal's own execution status (running, completed, terminated, ...).
    execution_status: str = "running"
    #: Why the server ended it, or the failure that stalls it, when Temporal says.
    problem: str | None = None


def new_incident_id(runbook: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"inc-{runbook}-{stamp}-{secrets.token_hex(ID_RANDOM_BYTES)}"


class IncidentExists(WarroomError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"incident id {incident_id!r} is taken: declare again")


class InputTooLarge(WarroomError):
    """Something to send is over a limit of the Temporal server."""


async def check_limits(client: Client, incident_id: str, inp: IncidentInput) -> None:
    """Refuse, naming the limit, what the server would refuse with a gRPC error (or, for a
    search attribute, by failing the workflow's task on every attempt)."""
    if len(incident_id) > MAX_ID_CHARS:
        raise InputTooLarge(
            f"incident id is {len(incident_id)} characters, over the server's limit of "
            f"{MAX_ID_CHARS}: use a shorter runbook name"
        )
    rb = inp.runbook
    for what, value in (("runbook name", rb.name), ("service", rb.service_name)):
        if len(value.encode()) > MAX_SEARCH_ATTRIBUTE_BYTES:
            raise InputTooLarge(
                f"{what} is {len(value.encode())} bytes, over the server's limit of "
                f"{MAX_SEARCH_ATTRIBUTE_BYTES} for a search attribute value"
            )
    (payload,) = await client.data_converter.encode([inp])
    if payload.ByteSize() > MAX_INPUT_BYTES:
        raise InputTooLarge(
            f"the incident's input (runbook and summary) is {payload.ByteSize():,} bytes, "
            f"over the server's limit of {MAX_INPUT_BYTES:,} bytes per payload"
        )


async def declare(
    client: Client,
    runbook: Runbook,
    summary: str,
    *,
    severity: Severity | None = None,
    declared_by: str = "unknown",
    incident_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    teams: Teams | None = None,
) -> str:
    """Start the incident workflow; returns the incident id.

    `params` are checked against the runbook's declared params (ParamsError lists every
    problem) and completed with their defaults. `group:` approvers are resolved to people
    with `teams` (RunbookError names an unknown group), so the workflow input says who may
    decide each gated step. Without an `incident_id`, a fresh random one; taken ones are
    retried with another.
    """
    inp = IncidentInput(
        runbook=runbook,
        summary=summary,
        severity=severity,
        declared_by=declared_by,
        params=coerce_params(runbook.params, params or {}),
        approvers=approvers_of(runbook, teams),
    )
    chosen = incident_id or ""
    for _ in range(1 if incident_id else ID_ATTEMPTS):
        chosen = incident_id or new_incident_id(runbook.name)
        await check_limits(client, chosen, inp)
        try:
            await client.start_workflow(
                IncidentWorkflow.run,
                inp,
                id=chosen,
                task_queue=task_queue(),
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # An incident id is never reused: a closed one stays as it is.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=ui_summary(inp),
                static_details=ui_details(inp),
            )
        except WorkflowAlreadyStartedError:
            continue  # taken (by a twin declared in the same second): try another
        return chosen
    raise IncidentExists(chosen)


def approvers_of(runbook: Runbook, teams: Teams | None) -> dict[str, list[str]]:
    """Who may decide each gated step: its approvers with every `group:NAME` replaced by the
    group's members (fixed at declare, so a later teams.yaml edit does not change a running
    incident)."""
    return {
        step.id: resolve_approvers(step.approval.approvers, teams or {})
        for step in runbook.steps
        if step.approval is not None
    }


def ui_summary(inp: IncidentInput) -> str:
    """The incident's one line in the Temporal UI: severity, title, summary, runbook."""
    rb = inp.runbook
    summary = clip(escape(inp.summary), UI_SUMMARY_CHARS)
    return f"{inp.severity or rb.severity} · {escape(rb.title)} — {summary} ({rb.name})"


def ui_details(inp: IncidentInput) -> str:
    """The incident's fixed details in the Temporal UI (Temporal markdown)."""
    rb = inp.runbook
    return "\n".join(
        [
            f"**severity** {inp.severity or rb.severity}",
            f"**title** {escape(rb.title)}",
            f"**summary** {escape(inp.summary)}",
            f"**runbook** {rb.name} (service {rb.service_name})",
            f"**declared by** {escape(inp.declared_by)}",
        ]
    )


async def _bounded(call: Awaitable[T]) -> T:
    """Wait for something only a worker can answer, no longer than WORKER_WAIT."""
    try:
        return await asyncio.wait_for(call, WORKER_WAIT)
    except TimeoutError:
        raise NoWorker() from None


async def status(client: Client, incident_id: str) -> IncidentState:
    """The incident's state: its result once completed, else the live `status` query, with
    Temporal's own word where the workflow cannot know (terminated, stalled task)."""
    described = await execution.describe(client, incident_id)
    if described.status == WorkflowExecutionStatus.COMPLETED:
        state = await result(client, incident_id)
        state.execution_status = "completed"
        return state
    truth = await execution.run_truth(client, described)
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
    if truth.healthy:
        if not await execution.worker_polls(client, truth.task_queue):
            raise NoWorker(truth.task_queue)  # at once: the query would wait for nobody
        state = await _bounded(handle.query(IncidentWorkflow.status))
    else:
        state = await _last_known_state(client, incident_id, truth)
    pending = described.raw_description.pending_activities
    if pending and any(s.status == "running" for s in state.steps):
        await _add_live_attempts(client, state, pending)
    return truth.apply(state)


async def _last_known_state(
    client: Client, incident_id: str, truth: execution.RunTruth
) -> IncidentState:
    """A run that the server ended, or whose workflow task keeps failing: a worker can still
    answer the query over the recorded history (not when the task fails); else the history
    itself says what happened up to then."""
    if truth.task_failure is None and await execution.worker_polls(client, truth.task_queue):
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        with contextlib.suppress(NoWorker, WorkflowQueryFailedError, RPCError):
            return await _bounded(handle.query(IncidentWorkflow.status))
    return await recorded_state(client, incident_id)


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
    client: Client, incident_id: str, kind: decisions.Kind, decision: HumanDecision
) -> StepState | IncidentState:
    """Send a human decision (see `warroom.incidents.decisions`): applied and answered, or refused
    (DecisionRefused), or not applied and never will be (NotApplied)."""
    return await decisions.send(client, incident_id, kind, decision)


#: One row per incident: a long incident's earlier runs (continued as new) are not listed.
LIST_QUERY = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"


async def list_incidents(client: Client, *, limit: int = 50) -> list[IncidentSummary]:
    """Newest first; Temporal's word on runs it ended or whose workflow task keeps failing."""
    found = [wf async for wf in client.list_workflows(LIST_QUERY, limit=limit)]
    return list(await asyncio.gather(*(_summary(client, wf) for wf in found)))


async def _summary(client: Client, wf: WorkflowExecution) -> IncidentSummary:
    attrs = wf.typed_search_attributes
    summary = IncidentSummary(
        incident_id=wf.id,
        status=attrs.get(sa.STATUS) or "active",
        severity=attrs.get(sa.SEVERITY) or "",
        phase=attrs.get(sa.PHASE) or "",
        runbook=attrs.get(sa.RUNBOOK) or "",
        service=attrs.get(sa.SERVICE) or "",
        commander=attrs.get(sa.COMMANDER) or "",
        started_at=wf.start_time,
        closed_at=wf.close_time,
    )
    if wf.status == WorkflowExecutionStatus.COMPLETED:
        summary.execution_status = "completed"
        return summary
    # Running ones may be stalled, and the server may have ended the others: ask it.
    with contextlib.suppress(IncidentNotFound):  # gone since the listing (retention)
        truth = await execution.run_truth(client, await execution.describe(client, wf.id))
        summary.execution_status = truth.execution_status
        summary.problem = truth.reason or truth.task_failure
        if truth.ended_by_server:
            summary.status = truth.execution_status
        elif truth.task_failure is not None:
            summary.status = "stalled"
    return summary
