"""Sending a human decision so that it is either applied and confirmed, or reported as not
applied and then never applies.

Three things make that true: nothing is sent unless a worker polls the incident's task
queue; every decision carries a deadline that the workflow enforces with its own clock
(`workflow.now()`, in the update validator and in the signal handler); and the sender waits
until no workflow task that started before the deadline can still accept it. After that, an
unanswered decision is refused by the workflow whenever a worker gets to it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, get_args

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from warroom.contract import search_attributes as sa
from warroom.contract.models import (
    Abort,
    Acknowledge,
    Assign,
    Decision,
    DecisionKind,
    HumanDecision,
    IncidentState,
    Note,
    Resolve,
    SetSeverity,
    StepCommand,
    StepState,
)
from warroom.errors import DecisionRefused, WarroomError
from warroom.incidents import execution

T = TypeVar("T")

#: Every kind of human decision (the workflow records each under the same name).
Kind = DecisionKind

#: The update each decision is sent as, and what it answers with: decisions about a step
#: answer with the step, decisions about the incident with the whole incident.
UPDATES: dict[Kind, tuple[str, type[StepState] | type[IncidentState]]] = {
    "approve": ("approve_step", StepState),
    "reject": ("reject_step", StepState),
    "retry": ("retry_failed_step", StepState),
    "skip": ("skip_failed_step", StepState),
    "abort": ("abort_incident", IncidentState),
    "acknowledge": ("acknowledge_incident", IncidentState),
    "assign": ("assign_role", IncidentState),
    "note": ("add_note", IncidentState),
    "severity": ("change_severity", IncidentState),
    "resolve": ("resolve_incident", IncidentState),
}
#: The word each face names a decision by (`warroom ack`, `POST /v1/incidents/{id}/ack`, the
#: console's forms) → its kind and model.
WORDS: dict[str, tuple[Kind, type[HumanDecision]]] = {
    "approve": ("approve", Decision),
    "reject": ("reject", Decision),
    "retry": ("retry", StepCommand),
    "skip": ("skip", StepCommand),
    "abort": ("abort", Abort),
    "ack": ("acknowledge", Acknowledge),
    "assign": ("assign", Assign),
    "note": ("note", Note),
    "severity": ("severity", SetSeverity),
    "resolve": ("resolve", Resolve),
}
assert {kind for kind, _ in WORDS.values()} == set(get_args(Kind))
#: How a decision clicked in Slack is authenticated (the Slack user mapped through people.yaml).
SLACK = "slack"


def from_slack(word: str, by: str, fields: dict[str, Any]) -> tuple[Kind, HumanDecision]:
    """The decision a Slack click or modal names by `word` (WORDS), by the person it maps to,
    with `fields` (step, comment): its kind and payload (pydantic's ValidationError if not)."""
    kind, model = WORDS[word]
    return kind, model.model_validate({"by": by, **fields, "authenticated": SLACK})


#: How long after sending a decision may still reach the workflow. A polling worker takes
#: it within milliseconds; anything slower means the worker is gone or wedged.
DECISION_WINDOW = timedelta(seconds=5)
#: After this long without an answer, say what is being waited for.
PATIENCE = timedelta(seconds=1)
#: Slack for the difference between this machine's clock and the server's.
CLOCK_MARGIN = timedelta(seconds=2)


class NotApplied(WarroomError):
    """The decision did not apply and never will (or was never sent)."""

    def __init__(self, message: str, *, update_id: str | None = None) -> None:
        super().__init__(message)
        #: The update that was sent, if one was: the workflow refuses it whenever it gets it.
        self.update_id = update_id


class AppliedUnconfirmed(WarroomError):
    """The workflow accepted the decision, but its outcome did not come back in time."""


class StoppedWaiting(KeyboardInterrupt):
    """Ctrl-C twice while waiting: says until when the decision may still apply.

    A KeyboardInterrupt, so that generic error handling leaves it alone and the process
    ends with 130 like any interrupted command.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def send(
    client: Client,
    incident_id: str,
    kind: Kind,
    decision: HumanDecision,
    *,
    window: timedelta = DECISION_WINDOW,
    notify: Callable[[str], None] | None = None,
    run: execution.Run | None = None,
    update_id: str | None = None,
) -> StepState | IncidentState:
    """Send `decision` as its validated update; the workflow's answer once applied.

    `run` is the incident's run as the caller's request already looked at it (else this
    looks). `update_id`: the same id sent again (a chat's retried delivery) applies once. Raises DecisionRefused (the workflow said why), NotApplied (no worker took it in
    time: it never applies) or, from Ctrl-C twice when `notify` is given, StoppedWaiting.
    """
    run = run or await execution.look(client, incident_id)
    truth = run.truth
    _refuse_unless_open(incident_id, run)
    if truth.task_failure is not None:
        raise NotApplied(
            f"not applied: {incident_id} is stalled, its workflow task keeps failing "
            f"({truth.task_failure}); nothing was sent"
        )
    if not await run.has_worker(client):
        raise NotApplied(
            f"not applied: no worker is polling task queue {truth.task_queue!r}; "
            "start one with `warroom dev` or `warroom worker` (nothing was sent)"
        )
    deadline = datetime.now(UTC) + window
    # Past this, no workflow task that started before the deadline can still accept it:
    # such a task either completed or timed out, and a retry starts after the deadline.
    settled = deadline + truth.task_timeout + CLOCK_MARGIN
    update, result_type = UPDATES[kind]
    update_id = update_id or f"{kind}-{uuid.uuid4()}"
    handle = client.get_workflow_handle(incident_id)
    call = handle.execute_update(
        update,
        decision.model_copy(update={"deadline": deadline}),
        id=update_id,
        result_type=result_type,
    )
    try:
        answer: StepState | IncidentState = await _wait(call, settled, deadline, kind, notify)
        return answer
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise DecisionRefused(getattr(cause, "message", None) or str(cause)) from exc
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
        # It closed while we were sending.
        await run.look_again(client)
        _refuse_unless_open(incident_id, run)
        raise
    except TimeoutError:
        pass
    if await _accepted(client, run.described, update_id):
        raise AppliedUnconfirmed(
            f"applied: the workflow accepted the {kind}, but its outcome did not come back "
            f"by {settled:%H:%M:%S} UTC; `warroom show {incident_id}` shows it"
        )
    raise NotApplied(
        f"not applied: no worker took the {kind} before {deadline:%H:%M:%S} UTC; it will not apply",
        update_id=update_id,
    )


def _refuse_unless_open(incident_id: str, run: execution.Run) -> None:
    if run.described.status == WorkflowExecutionStatus.RUNNING:
        return
    truth = run.truth
    status = (
        truth.execution_status.replace("_", " ")
        if truth.ended_by_server
        else run.described.typed_search_attributes.get(sa.STATUS) or "completed"
    )
    reason = f": {truth.reason}" if truth.reason else ""
    raise DecisionRefused(f"incident {incident_id} is closed ({status}{reason})")


async def _wait(
    call: Awaitable[T],
    settled: datetime,
    deadline: datetime,
    kind: Kind,
    notify: Callable[[str], None] | None,
) -> T:
    """Wait for the answer until `settled`; with `notify`, Ctrl-C says what it means.

    The first Ctrl-C keeps waiting (the outcome is at most seconds away); the second stops,
    saying until when the decision may still apply.
    """
    task = asyncio.ensure_future(call)
    stop = asyncio.Event()
    waiting_for_stop = asyncio.ensure_future(stop.wait())
    interrupts = 0

    def interrupted() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1 and notify is not None:
            notify(
                f"still waiting for the outcome of the {kind}, at most until "
                f"{settled:%H:%M:%S} UTC; Ctrl-C again to stop waiting"
            )
        else:
            stop.set()

    async def until(seconds: float) -> bool:
        """Whether the answer came (or Ctrl-C twice) within `seconds`."""
        either = {task, waiting_for_stop}
        done, _ = await asyncio.wait(either, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)

    loop = asyncio.get_running_loop()
    catch = notify is not None and threading.current_thread() is threading.main_thread()
    if catch:
        loop.add_signal_handler(signal.SIGINT, interrupted)
    try:
        if not await until(PATIENCE.total_seconds()):
            if notify is not None:
                notify(
                    f"waiting for a worker to take the {kind}: it applies only if one does "
                    f"before {deadline:%H:%M:%S} UTC …"
                )
            await until(max(0.0, (settled - datetime.now(UTC)).total_seconds()))
        if task.done():
            return task.result()
        if stop.is_set():
            raise StoppedWaiting(
                f"stopped waiting: the {kind} applies only if a worker takes it before "
                f"{deadline:%H:%M:%S} UTC, and never after; `warroom show` tells whether it did"
            )
        raise TimeoutError
    finally:
        if catch:
            loop.remove_signal_handler(signal.SIGINT)
        waiting_for_stop.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: the SDK reports our own cancellation as an error


async def _accepted(
    client: Client, described: WorkflowExecutionDescription, update_id: str
) -> bool:
    """Whether the workflow accepted the update (the server knows without waiting)."""
    try:
        answer = await client.workflow_service.poll_workflow_execution_update(
            PollWorkflowExecutionUpdateRequest(
                namespace=client.namespace,
                update_ref=UpdateRef(
                    workflow_execution=WorkflowExecution(
                        workflow_id=described.id, run_id=described.run_id
                    ),
                    update_id=update_id,
                ),
                identity=client.identity,
                wait_policy=WaitPolicy(
                    lifecycle_stage=Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
                ),
            ),
            timeout=CLOCK_MARGIN,
        )
    except RPCError:
        return False  # unknown to the server (never admitted, or lost): it cannot apply
    if answer.stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED:
        return not answer.outcome.HasField("failure")  # a failure here is the validator's no
    return answer.stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
