"""What people see of incidents: the list, one incident's state (`status`), and `show`'s view
(state, story and metrics; `Shown.json` is `show --json`), each from one look at the run, or
from the incident archive once Temporal's retention has deleted the run."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from warroom.contract import search_attributes as sa
from warroom.contract.converter import plain_failure
from warroom.contract.models import IncidentState
from warroom.errors import IncidentNotFound
from warroom.incidents import execution
from warroom.incidents.execution import WORKER_WAIT, NoWorker
from warroom.record.archived import archived
from warroom.record.metrics import Metrics, of_story
from warroom.record.timeline import Story, recorded_state, story
from workflows.incident import IncidentWorkflow

T = TypeVar("T")

#: One row per incident: a long incident's earlier runs (continued as new) are not listed.
LIST_QUERY = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"


class IncidentSummary(BaseModel):
    """One line of `warroom list`."""

    incident_id: str
    #: The incident's title (its runbook's), and the summary it was declared with; "" when
    #: the server does not say (an incident started without them in its fixed details).
    title: str = ""
    summary: str = ""
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


def state_json(state: IncidentState) -> dict[str, Any]:
    """The whole state (every field of the model), plus which steps wait for approval."""
    data = state.model_dump(mode="json")
    data["pending_approvals"] = [s.id for s in state.pending_approvals]
    return data


@dataclass
class Shown:
    """One incident as `show` shows it: its state, and the story its metrics come from."""

    state: IncidentState
    story: Story

    @cached_property
    def metrics(self) -> Metrics:
        return of_story(self.story)

    def json(self) -> dict[str, Any]:
        """`show --json`: the state, `pending_approvals`, the metrics and each run's payload
        key id (`payload_keys`, null for a run stored plain)."""
        return {
            **state_json(self.state),
            "metrics": self.metrics.model_dump(mode="json"),
            "payload_keys": self.story.run_keys,
        }


class _History:
    """The incident's story, read from its history at most once (and only if needed)."""

    def __init__(self, client: Client, incident_id: str) -> None:
        self._client, self._incident_id = client, incident_id
        self._told: Story | None = None

    async def __call__(self) -> Story:
        if self._told is None:
            self._told = await story(self._client, self._incident_id)
        return self._told


async def show(client: Client, incident_id: str, *, run: execution.Run | None = None) -> Shown:
    """The incident's state and its story (one history read serves both)."""
    history = _History(client, incident_id)
    state = await _status(client, incident_id, run, history)
    return Shown(state=state, story=await history())


async def status(
    client: Client, incident_id: str, *, run: execution.Run | None = None
) -> IncidentState:
    """The incident's state: its result once completed, else the live `status` query, with
    Temporal's own word where the workflow cannot know (terminated, stalled task). `run`: the
    incident's run as this request already looked at it (else this looks)."""
    return await _status(client, incident_id, run, _History(client, incident_id))


async def _status(
    client: Client, incident_id: str, run: execution.Run | None, history: _History
) -> IncidentState:
    if run is None:
        try:
            run = await execution.look(client, incident_id)
        except IncidentNotFound:
            # Temporal's retention deleted it: the archive keeps its final state.
            record = await archived(incident_id)
            if record is None:
                raise
            state = IncidentState.model_validate(record.state)
            state.execution_status = "completed"
            return state
    if run.described.status == WorkflowExecutionStatus.COMPLETED:
        state = await result(client, incident_id)
        state.execution_status = "completed"
        return state
    truth = run.truth
    if truth.healthy:
        if not await run.has_worker(client):
            raise NoWorker(truth.task_queue)  # at once: the query would wait for nobody
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        state = await _bounded(handle.query(IncidentWorkflow.status))
    else:
        state = await _last_known_state(client, incident_id, run, history)
    pending = run.described.raw_description.pending_activities
    if pending and any(s.status == "running" for s in state.steps):
        await _add_live_attempts(client, state, pending, (await history()).activity_steps)
    return truth.apply(state)


async def _bounded(call: Awaitable[T]) -> T:
    """Wait for something only a worker can answer, no longer than WORKER_WAIT."""
    try:
        return await asyncio.wait_for(call, WORKER_WAIT)
    except TimeoutError:
        raise NoWorker() from None


async def _last_known_state(
    client: Client, incident_id: str, run: execution.Run, history: _History
) -> IncidentState:
    """A run that the server ended, or whose workflow task keeps failing: a worker can still
    answer the query over the recorded history (not when the task fails); else the history
    itself says what happened up to then."""
    if run.truth.task_failure is None and await run.has_worker(client):
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        with contextlib.suppress(NoWorker, WorkflowQueryFailedError, RPCError):
            return await _bounded(handle.query(IncidentWorkflow.status))
    return recorded_state(await history())


async def _add_live_attempts(
    client: Client,
    state: IncidentState,
    pending: Sequence[PendingActivityInfo],
    steps: dict[str, str],
) -> None:
    """The workflow learns a step's attempts only when it ends; the server knows them live.

    Pending activities carry only their activity id: `steps` (from the history) says which
    step each is.
    """
    for activity in pending:
        step = next((s for s in state.steps if s.id == steps.get(activity.activity_id)), None)
        if step is not None and step.status == "running":
            step.attempts += activity.attempt
            last = await plain_failure(client.data_converter, activity.last_failure)
            step.error = last.message or None


async def result(client: Client, incident_id: str) -> IncidentState:
    """Wait until the incident's workflow has completed; its final state."""
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
    return await handle.result()


async def list_incidents(
    client: Client,
    *,
    limit: int = 50,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    runbook: str | None = None,
    running: bool = False,
) -> list[IncidentSummary]:
    """At most `limit` incidents with the given status, severity, service and runbook, in
    Temporal's order: open ones first (newest first), then closed ones (most recently closed
    first); Temporal's word on runs it ended or whose workflow task keeps failing.
    `running`: only the incidents whose run has not completed (search reads those).

    The filters go into the visibility query, so the limit counts matching incidents; each
    row is checked again against them (a stalled or server-ended run's status is known only
    after a look), reading further pages until `limit` rows match or none are left."""
    wanted = {"status": status, "severity": severity, "service": service, "runbook": runbook}
    query = visibility_query(status=status, severity=severity, service=service, runbook=runbook)
    if running:
        query += " AND ExecutionStatus = 'Running'"
    found: list[IncidentSummary] = []
    batch: list[WorkflowExecution] = []
    listing = client.list_workflows(query, page_size=min(limit, 1000))
    async for wf in listing:
        batch.append(wf)
        if len(batch) == limit - len(found):
            found += await _matching(client, batch, wanted)
            batch = []
            if len(found) >= limit:
                return found[:limit]
    found += await _matching(client, batch, wanted)
    return found[:limit]


async def _matching(
    client: Client, batch: list[WorkflowExecution], wanted: dict[str, str | None]
) -> list[IncidentSummary]:
    summaries = await asyncio.gather(*(_summary(client, wf) for wf in batch))
    return [s for s in summaries if all(v is None or getattr(s, k) == v for k, v in wanted.items())]


#: The statuses the server gives a run it ended, as `list` shows them → its ExecutionStatus.
SERVER_ENDED = {
    "terminated": "Terminated",
    "timed_out": "TimedOut",
    "failed": "Failed",
    "canceled": "Canceled",
}


def visibility_query(
    *,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    runbook: str | None = None,
) -> str:
    """The visibility query that lists incidents with these values (LIST_QUERY narrowed). A
    value that cannot be written safely as a query literal is left out here (the rows are
    filtered again anyway)."""
    clauses = [LIST_QUERY]
    for key, value in ((sa.SEVERITY, severity), (sa.SERVICE, service), (sa.RUNBOOK, runbook)):
        if value is not None and _literal(value):
            clauses.append(f"{key.name} = '{value}'")
    if status in SERVER_ENDED:
        clauses.append(f"ExecutionStatus = '{SERVER_ENDED[status]}'")
    elif status == "stalled":  # a running incident whose workflow task keeps failing
        clauses.append("ExecutionStatus = 'Running'")
    elif status == "active":  # also a run so new that it has set no status yet
        clauses.append(f"({sa.STATUS.name} = 'active' OR {sa.STATUS.name} IS NULL)")
    elif status is not None and _literal(status):
        clauses.append(f"{sa.STATUS.name} = '{status}'")
    return " AND ".join(clauses)


def _literal(value: str) -> bool:
    """Whether `value` can go into a query between single quotes as it is: printable, with
    no quote or backslash (the server's unescaping of those is not to be relied on)."""
    return value.isprintable() and not any(c in value for c in "'\\\"")


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
    with contextlib.suppress(IncidentNotFound):  # gone since the listing (retention)
        if wf.status == WorkflowExecutionStatus.COMPLETED:
            summary.execution_status = "completed"
            await _closed_run_details(client, wf, summary)
            return summary
        # Running ones may be stalled, and the server may have ended the others: ask it.
        run = await execution.look(client, wf.id)
        summary.title, summary.summary = await _fixed_details(run.described)
        truth = run.truth
        summary.execution_status = truth.execution_status
        summary.problem = truth.reason or truth.task_failure
        if truth.ended_by_server:
            summary.status = truth.execution_status
        elif truth.task_failure is not None:
            summary.status = "stalled"
    return summary


#: How the fixed details every incident starts with (`warroom.incidents.declare.ui_details`,
#: for the Temporal UI) name a field: one line each, `**title** Checkout 5xx spike`.
_DETAIL = re.compile(r"^\*\*(title|summary)\*\* (.*)$", re.MULTILINE)
#: A closed run's title and summary by (incident id, run id): they never change, and a list
#: shown again (the console's, every second) need not describe each closed run again.
_CLOSED_RUNS: dict[tuple[str, str], tuple[str, str]] = {}
CLOSED_RUNS_KEPT = 10_000


async def _fixed_details(described: WorkflowExecutionDescription) -> tuple[str, str]:
    """The title and summary in the run's fixed details (its user metadata), or ""."""
    found = dict(_DETAIL.findall(await described.static_details() or ""))
    return found.get("title", ""), found.get("summary", "")


async def _closed_run_details(
    client: Client, wf: WorkflowExecution, summary: IncidentSummary
) -> None:
    key = (wf.id, wf.run_id)
    if key not in _CLOSED_RUNS:
        try:
            described = await client.get_workflow_handle(wf.id, run_id=wf.run_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return  # gone since the listing (retention)
            raise
        if len(_CLOSED_RUNS) >= CLOSED_RUNS_KEPT:
            del _CLOSED_RUNS[next(iter(_CLOSED_RUNS))]  # the oldest
        _CLOSED_RUNS[key] = await _fixed_details(described)
    summary.title, summary.summary = _CLOSED_RUNS[key]
