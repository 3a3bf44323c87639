"""IncidentWorkflow: one production incident, from declared to resolved.

The run loop and the public Temporal interface (signals, updates with validators, the `status`
query). The rooms it composes do the work: the step interpreter (steps.py), approval gates and
compensation (gates.py), cadence and escalation (cadence.py), human decisions (decisions.py),
alerts (alerts.py), over the incident's working state (context.py). Those are passed through
the sandbox, so that only this module is executed afresh for each workflow run.
"""

# No `from __future__ import annotations` here: Temporal reads every handler's type hints each
# time the sandbox executes this module (once per workflow run), and string annotations cost a
# compile each (about 0.5 ms of the run's 3 ms sandbox set-up).
import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contract.closing import ARCHIVE_ACTIVITY, POSTMORTEM_ACTIVITY
    from warroom.contract.models import (
        Abort,
        Acknowledge,
        Alert,
        Assign,
        Decision,
        IncidentInput,
        IncidentState,
        Note,
        Resolve,
        SetSeverity,
        StepCommand,
        StepState,
    )
    from workflows.alerts import Alerts
    from workflows.cadence import Cadence
    from workflows.chat_room import ChatRoom, chat_room_wanted
    from workflows.context import (
        CONTINUE_AFTER_EVENTS,
        PATCH_ALERT_BUDGET,
        PATCH_COMMANDER,
        PATCH_DECISIONS_FIRST,
        PATCH_MITIGATED,
        PATCH_MITIGATION_RAN,
        PATCH_POSTMORTEM,
        PATCH_TIMELINE,
        PATCH_UNSET_TARGET,
        ContinueAsNew,
        IncidentContext,
    )
    from workflows.decisions import Decisions
    from workflows.gates import Gates
    from workflows.steps import HEARTBEATING, Steps

#: The workflow and the constants other modules and tests read from here.
__all__ = [
    "ARCHIVE_ACTIVITY",
    "CONTINUE_AFTER_EVENTS",
    "HEARTBEATING",
    "PATCH_ALERT_BUDGET",
    "PATCH_ARCHIVE",
    "PATCH_COMMANDER",
    "PATCH_DECISIONS_FIRST",
    "PATCH_MITIGATED",
    "PATCH_MITIGATION_RAN",
    "PATCH_POSTMORTEM",
    "PATCH_TIMELINE",
    "PATCH_UNSET_TARGET",
    "POSTMORTEM_ACTIVITY",
    "IncidentWorkflow",
]

#: Time given to writing the postmortem draft (it reads the whole history).
POSTMORTEM_TIMEOUT = timedelta(minutes=2)
#: The activity that stores the closed incident's record in the archive (record/archiver.py),
#: the patch that schedules it, and how long it is retried (an archive that is down delays
#: the record, never loses it): backoff up to ARCHIVE_RETRY_MAX between attempts.
PATCH_ARCHIVE = "archive-record"
ARCHIVE_ATTEMPT_TIMEOUT = timedelta(minutes=5)
ARCHIVE_GIVE_UP = timedelta(days=30)
ARCHIVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,  # until stored (bounded by ARCHIVE_GIVE_UP)
    # A worker without the activity registered (the tests' own workers; an older worker
    # during a rollout) answers NotFoundError: retrying cannot fix that, and the timeline
    # says "record not archived".
    non_retryable_error_types=["NotFoundError"],
)


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, inp: IncidentInput) -> None:
        self._incident = incident = IncidentContext(inp)
        self._cadence = Cadence(incident)
        self._steps = Steps(incident, Gates(incident, self._cadence))
        self._decisions = Decisions(incident)
        self._alerts = Alerts(incident)

    # ---- run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: IncidentInput) -> IncidentState:
        incident = self._incident
        incident.publish()
        incident.background.append(asyncio.create_task(self._cadence.cadence_loop()))
        if incident.runbook.escalation and incident.state.milestones.acknowledged is None:
            incident.background.append(asyncio.create_task(self._cadence.acknowledge_or_escalate()))
        if chat_room_wanted(incident):  # the incident's room in Slack (patch "chat-room")
            incident.background.append(asyncio.create_task(ChatRoom(incident).run()))
        steps = incident.runbook.steps
        try:
            index: int | None = incident.next_step
            while index is not None and index < len(steps):
                incident.next_step = index
                incident.continue_if_long()
                index = await self._steps.run_step(index, steps[index])
        except ContinueAsNew:
            return await self._continue_as_new()
        if index is not None:
            incident.close("resolved", "all steps done")
        await asyncio.gather(*incident.background)
        await self._cadence.post_updates("final")
        await self._write_postmortem()
        await self._archive()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return incident.state

    async def _write_postmortem(self) -> None:
        """The blameless postmortem draft, from the history, for people to finish; a draft
        that cannot be written never keeps the incident from closing."""
        if not workflow.patched(PATCH_POSTMORTEM):
            return
        try:
            await workflow.execute_activity(
                POSTMORTEM_ACTIVITY,
                {"incident_id": self._incident.state.incident_id, "step": "postmortem"},
                result_type=str,
                start_to_close_timeout=POSTMORTEM_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_attempts=3, non_retryable_error_types=["NotFoundError"]
                ),
                summary="postmortem draft",
            )
        except ActivityError as err:
            workflow.logger.warning("postmortem draft not written: %s", err.cause)

    async def _archive(self) -> None:
        """The whole record into the archive, retried until it is stored; the incident is
        already closed (its state says so) while this waits for an archive that is down."""
        if not workflow.patched(PATCH_ARCHIVE):
            return
        try:
            await workflow.execute_activity(
                ARCHIVE_ACTIVITY,
                {"incident_id": self._incident.state.incident_id, "step": "archive"},
                result_type=str,
                start_to_close_timeout=ARCHIVE_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=ARCHIVE_GIVE_UP,
                retry_policy=ARCHIVE_RETRY,
                summary="archive the record",
            )
        except ActivityError as err:
            workflow.logger.warning("record not archived: %s", err.cause)

    async def _continue_as_new(self) -> IncidentState:
        """Hand the whole incident to a new run (handlers finished first, nothing lost)."""
        incident = self._incident
        incident.continuing = True
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and incident.in_flight == 0
        )
        interval = incident.runbook.cadence.get(incident.state.severity) or timedelta(hours=1)
        next_update_at = incident.next_update_at or workflow.now() + interval
        workflow.continue_as_new(
            self._alerts.fit(
                lambda: incident.input.model_copy(
                    update={"carried": incident.carried(next_update_at)}
                )
            )
        )

    # ---- human decisions ---------------------------------------------------------------
    # Each decision comes as a signal (fire-and-forget, for the plain Temporal CLI) or as a
    # validated update (the caller learns at once whether it applied); decisions.py checks,
    # records and applies both.

    @workflow.signal
    def approve(self, decision: Decision) -> None:
        self._decisions.take("approve", decision, "signal")

    @workflow.signal
    def reject(self, decision: Decision) -> None:
        self._decisions.take("reject", decision, "signal")

    @workflow.signal
    def retry_step(self, command: StepCommand) -> None:
        self._decisions.take("retry", command, "signal")

    @workflow.signal
    def skip_step(self, command: StepCommand) -> None:
        self._decisions.take("skip", command, "signal")

    @workflow.signal
    def abort(self, abort: Abort) -> None:
        self._decisions.take("abort", abort, "signal")

    @workflow.signal
    def acknowledge(self, ack: Acknowledge) -> None:
        self._decisions.take("acknowledge", ack, "signal")

    @workflow.signal
    def assign(self, assign: Assign) -> None:
        self._decisions.take("assign", assign, "signal")

    @workflow.signal
    def note(self, note: Note) -> None:
        self._decisions.take("note", note, "signal")

    @workflow.signal
    def set_severity(self, change: SetSeverity) -> None:
        self._decisions.take("severity", change, "signal")

    @workflow.signal
    def resolve(self, resolve: Resolve) -> None:
        self._decisions.take("resolve", resolve, "signal")

    @workflow.signal
    def alert(self, alert: Alert) -> None:
        self._alerts.take(alert)

    @workflow.signal
    def alerts(self, alerts: list[Alert]) -> None:
        """A notification's alerts in one signal (what warroom's API sends), each applied as
        the `alert` signal applies one; more than ALERTS_PER_SIGNAL is malformed: dropped."""
        self._alerts.take_many(alerts)

    @workflow.update
    async def approve_step(self, decision: Decision) -> StepState:
        self._decisions.take("approve", decision, "update")
        return await self._decisions.applied(
            decision.step, "awaiting_approval", short_of_quorum=True
        )

    @approve_step.validator
    def _validate_approve(self, decision: Decision) -> None:
        self._decisions.refuse_if_invalid("approve", decision)

    @workflow.update
    async def reject_step(self, decision: Decision) -> StepState:
        self._decisions.take("reject", decision, "update")
        return await self._decisions.applied(decision.step, "awaiting_approval")

    @reject_step.validator
    def _validate_reject(self, decision: Decision) -> None:
        self._decisions.refuse_if_invalid("reject", decision)

    # An update cannot share a name with a signal: these are the update forms of the
    # `retry_step`, `skip_step`, `abort`, ... signals.
    @workflow.update(name="retry_failed_step")
    async def retry_failed_step(self, command: StepCommand) -> StepState:
        self._decisions.take("retry", command, "update")
        return await self._decisions.applied(command.step, "failed")

    @retry_failed_step.validator
    def _validate_retry(self, command: StepCommand) -> None:
        self._decisions.refuse_if_invalid("retry", command)

    @workflow.update(name="skip_failed_step")
    async def skip_failed_step(self, command: StepCommand) -> StepState:
        self._decisions.take("skip", command, "update")
        return await self._decisions.applied(command.step, "failed")

    @skip_failed_step.validator
    def _validate_skip(self, command: StepCommand) -> None:
        self._decisions.refuse_if_invalid("skip", command)

    @workflow.update(name="abort_incident")
    async def abort_incident(self, abort: Abort) -> IncidentState:
        self._decisions.take("abort", abort, "update")
        await self._decisions.closed()
        return self._incident.state

    @abort_incident.validator
    def _validate_abort(self, abort: Abort) -> None:
        self._decisions.refuse_if_invalid("abort", abort)

    @workflow.update(name="resolve_incident")
    async def resolve_incident(self, resolve: Resolve) -> IncidentState:
        self._decisions.take("resolve", resolve, "update")
        await self._decisions.closed()
        return self._incident.state

    @resolve_incident.validator
    def _validate_resolve(self, resolve: Resolve) -> None:
        self._decisions.refuse_if_invalid("resolve", resolve)

    @workflow.update(name="acknowledge_incident")
    def acknowledge_incident(self, ack: Acknowledge) -> IncidentState:
        self._decisions.take("acknowledge", ack, "update")
        return self._incident.state

    @acknowledge_incident.validator
    def _validate_acknowledge(self, ack: Acknowledge) -> None:
        self._decisions.refuse_if_invalid("acknowledge", ack)

    @workflow.update(name="assign_role")
    def assign_role(self, assign: Assign) -> IncidentState:
        self._decisions.take("assign", assign, "update")
        return self._incident.state

    @assign_role.validator
    def _validate_assign(self, assign: Assign) -> None:
        self._decisions.refuse_if_invalid("assign", assign)

    @workflow.update(name="add_note")
    def add_note(self, note: Note) -> IncidentState:
        self._decisions.take("note", note, "update")
        return self._incident.state

    @add_note.validator
    def _validate_note(self, note: Note) -> None:
        self._decisions.refuse_if_invalid("note", note)

    @workflow.update(name="change_severity")
    def change_severity(self, change: SetSeverity) -> IncidentState:
        self._decisions.take("severity", change, "update")
        return self._incident.state

    @change_severity.validator
    def _validate_severity(self, change: SetSeverity) -> None:
        self._decisions.refuse_if_invalid("severity", change)

    @workflow.query
    def status(self) -> IncidentState:
        return self._incident.state
