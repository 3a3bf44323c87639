"""What Temporal itself says about an incident's run (how the server ended it, a workflow task
that keeps failing, whether a worker polls), looked at once per request (`look` → `Run`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, TaskQueueType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from warroom.contract.converter import plain_failure
from warroom.contract.models import IncidentState
from warroom.errors import IncidentNotFound, WarroomError

#: A poller last seen longer ago than this is taken for gone. The server lists a stopped
#: worker for minutes, while a live one renews its long poll about once a minute.
POLLER_FRESH = timedelta(seconds=90)
#: What Temporal gives a workflow task when the workflow does not say (ours do not).
DEFAULT_TASK_TIMEOUT = timedelta(seconds=10)
#: How long to look for a poller before concluding there is none: a worker that has just
#: started takes a moment to send its first poll.
POLLER_PATIENCE = timedelta(seconds=3)
#: How often to look in that time.
POLLER_RECHECK = timedelta(milliseconds=200)
#: How many of the newest history events to search for the failure of a stalled workflow task.
RECENT_EVENTS = 100
#: Workflow task failures the server causes and retries on its own, which say nothing is wrong
#: with the incident: a signal or update arrived while the task ran (a flood of alerts makes
#: these frequent), or the sticky queue was reset. Anything else that keeps failing stalls it.
SERVER_CAUSES = frozenset(
    {
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_UPDATE,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FAILOVER_CLOSE_COMMAND,
    }
)
#: How long a command waits for a worker to answer a query.
WORKER_WAIT = 15.0


class NoWorker(WarroomError):
    def __init__(self, task_queue: str | None = None) -> None:
        what = (
            f"no worker is polling task queue {task_queue!r}"
            if task_queue
            else f"no worker answered within {WORKER_WAIT:.0f}s"
        )
        super().__init__(f"{what}: start one with `warroom dev` (embedded) or `warroom worker`")


@dataclass
class RunTruth:
    """Temporal's view of one incident run."""

    execution_status: str  # WorkflowExecutionStatus, lower case: running, terminated, ...
    reason: str | None  # why the server ended it, when it says
    task_failure: str | None  # the last workflow task failure, while it keeps failing
    task_attempts: int
    task_queue: str
    task_timeout: timedelta
    close_time: datetime | None

    @property
    def ended_by_server(self) -> bool:
        return self.execution_status not in ("running", "completed")

    @property
    def healthy(self) -> bool:
        return not self.ended_by_server and self.task_failure is None

    def apply(self, state: IncidentState) -> IncidentState:
        """Put Temporal's word into the state; where it contradicts the workflow's, it wins."""
        state.execution_status = self.execution_status
        state.execution_reason = self.reason
        state.workflow_task_failure = self.task_failure
        state.workflow_task_attempts = self.task_attempts
        if self.ended_by_server:
            state.status = self.execution_status  # type: ignore[assignment]  # checked above
            state.closed_at = state.closed_at or self.close_time
            what = self.execution_status.replace("_", " ")
            state.outcome = f"the workflow was {what}" + (f": {self.reason}" if self.reason else "")
        elif self.task_failure is not None:
            state.status = "stalled"
            state.outcome = (
                f"its workflow task failed {self.task_attempts} times in a row; "
                f"nothing moves until that is fixed: {self.task_failure}"
            )
        return state


@dataclass
class Run:
    """One look at an incident's current run, handed on within a request so that the server
    is asked once: its description, what that means, and (once asked) whether a worker polls
    its task queue."""

    described: WorkflowExecutionDescription
    truth: RunTruth
    polled: bool | None = None

    async def look_again(self, client: Client) -> None:
        """Describe the run anew: it changed under this request (it closed, say)."""
        fresh = await look(client, self.described.id)
        self.described, self.truth, self.polled = fresh.described, fresh.truth, None

    async def has_worker(self, client: Client) -> bool:
        """Whether a worker polls the run's task queue (`worker_polls`), asked once."""
        if self.polled is None:
            self.polled = await worker_polls(client, self.truth.task_queue)
        return self.polled


async def look(client: Client, incident_id: str) -> Run:
    """The incident's current run as the server describes it (IncidentNotFound if none)."""
    described = await describe(client, incident_id)
    return Run(described, await run_truth(client, described))


async def describe(client: Client, incident_id: str) -> WorkflowExecutionDescription:
    try:
        return await client.get_workflow_handle(incident_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise IncidentNotFound(incident_id) from exc
        raise


async def run_truth(client: Client, described: WorkflowExecutionDescription) -> RunTruth:
    raw = described.raw_description
    status = described.status or WorkflowExecutionStatus.RUNNING
    timeout = raw.execution_config.default_workflow_task_timeout
    truth = RunTruth(
        execution_status=status.name.lower(),
        reason=None,
        task_failure=None,
        task_attempts=0,
        task_queue=described.task_queue,
        task_timeout=timeout.ToTimedelta() if timeout.ByteSize() else DEFAULT_TASK_TIMEOUT,
        close_time=described.close_time,
    )
    stalled = raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt > 1
    if truth.ended_by_server or stalled:
        for event in await _recent_events(client, described):
            if truth.ended_by_server:
                truth.reason = await _close_reason(client, event)
                break
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                break  # a task went through since: nothing is failing
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                if event.workflow_task_failed_event_attributes.cause in SERVER_CAUSES:
                    break  # the server asked for the task again (a signal came meanwhile)
                failure = event.workflow_task_failed_event_attributes.failure
                failure = await plain_failure(client.data_converter, failure)
                truth.task_failure = failure.message or "workflow task failed"
                truth.task_attempts = raw.pending_workflow_task.attempt - 1
                break
    return truth


async def _recent_events(
    client: Client, described: WorkflowExecutionDescription
) -> list[HistoryEvent]:
    """The newest events of the run, newest first."""
    answer = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=described.id, run_id=described.run_id),
            maximum_page_size=RECENT_EVENTS,
        )
    )
    return list(answer.history.events)


async def _close_reason(client: Client, event: HistoryEvent) -> str | None:
    t = event.event_type
    if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        term = event.workflow_execution_terminated_event_attributes
        by = f" (by {term.identity})" if term.identity else ""
        return (term.reason or "no reason given") + by
    if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        failure = event.workflow_execution_failed_event_attributes.failure
        return (await plain_failure(client.data_converter, failure)).message or None
    if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        return "its run timeout passed"
    if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        new_run = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        return f"continued in run {new_run}"
    return None


async def worker_polls(client: Client, task_queue: str) -> bool:
    """Whether a worker polls `task_queue`, allowing one that just started POLLER_PATIENCE."""
    give_up = datetime.now(UTC) + POLLER_PATIENCE
    while not await polling_workers(client, task_queue):
        if datetime.now(UTC) >= give_up:
            return False
        await asyncio.sleep(POLLER_RECHECK.total_seconds())
    return True


async def polling_workers(client: Client, task_queue: str) -> int:
    """How many workers poll `task_queue` for workflow tasks (seen within POLLER_FRESH)."""
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    now = datetime.now(UTC)
    return sum(
        1
        for poller in answer.pollers
        if now - poller.last_access_time.ToDatetime(tzinfo=UTC) <= POLLER_FRESH
    )
