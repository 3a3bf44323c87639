"""IncidentWorkflow: one production incident, from declared to resolved.

Runs the runbook's steps in order as activities, holds risky steps at approval gates (a quorum
of distinct people), follows each step's failure policy, posts status updates on a durable
timer at the current severity's cadence, escalates when nobody acknowledges or decides, lets
alerts join, and continues as new when its history grows long, carrying its whole state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from warroom.contract import search_attributes as sa
    from warroom.contract.models import (
        ALERTS_PER_SIGNAL,
        NOT_FOR_TEMPLATES,
        Abort,
        Acknowledge,
        ActionInput,
        Alert,
        AlertState,
        Assign,
        CarriedState,
        Decision,
        DecisionKind,
        DecisionRecord,
        Escalated,
        HumanDecision,
        IncidentInput,
        IncidentState,
        IncidentStatusName,
        Note,
        Resolve,
        SetSeverity,
        StepCommand,
        StepState,
        StepStatus,
    )
    from warroom.expressions.dataflow import (
        INPUT_LIMIT,
        evaluate_when,
        project,
        render_text,
        size_of,
    )
    from warroom.language.durations import format_duration, parse_duration
    from warroom.language.runbook import RETRY_POLICIES, ActionRef, Approval, Goto, RetrySpec, Step
    from warroom.language.template_refs import references_in
    from warroom.language.workflow_actions import (
        NOTE,
        WAIT,
        WORKFLOW_ACTIONS,
        NoteParams,
        WaitParams,
    )

#: The activity that writes the postmortem draft (activities/postmortem.py).
POSTMORTEM_ACTIVITY = "postmortem.write"

#: Time given to one notification post (status update or escalation), retries included.
UPDATE_TIMEOUT = timedelta(seconds=30)
#: Continue as new past this many history events even when the server does not suggest it
#: (the time-skipping test server never does), well below the 10,240-event warning.
CONTINUE_AFTER_EVENTS = 2_000
#: Action kinds that run long and heartbeat (a worker that dies mid-wait is noticed within
#: HEARTBEAT_TIMEOUT), with their own `timeout` argument's default: an attempt gets at least
#: that long plus KILL_GRACE, whatever the step's `timeout` says.
HEARTBEATING: dict[str, timedelta] = {
    "http.wait": timedelta(minutes=10),
    "prometheus.wait": timedelta(minutes=10),
    "exec": timedelta(minutes=5),
}
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
KILL_GRACE = timedelta(seconds=30)
#: Patch ids: behaviour that changes the commands of incidents already running.
PATCH_MITIGATED = "status-mitigated"
#: The timeline's own records: approval requested, refused signals, mitigated, rejected on timeout.
PATCH_TIMELINE = "timeline-records"
#: The postmortem draft written through an activity when the incident closes.
PATCH_POSTMORTEM = "postmortem-draft"
#: The commander as a search attribute (IncidentCommander), for lists of incidents.
PATCH_COMMANDER = "commander-attribute"
#: Time given to writing the postmortem draft (it reads the whole history).
POSTMORTEM_TIMEOUT = timedelta(minutes=2)

Via = Literal["signal", "update"]


def retry_policy(spec: RetrySpec) -> RetryPolicy:
    return RetryPolicy(
        maximum_attempts=spec.max_attempts,
        initial_interval=spec.initial_interval,
        backoff_coefficient=spec.backoff,
        maximum_interval=spec.max_interval,
        non_retryable_error_types=list(spec.non_retryable) or None,
    )


def approver_allowed(approvers: list[str], who: str) -> bool:
    return "*" in approvers or who in approvers


class _ContinueAsNew(Exception):
    """Raised inside the run loop at a safe point: the run hands over to a new one."""


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, inp: IncidentInput) -> None:
        self._runbook = inp.runbook
        self._input = inp
        carried = inp.carried
        self._state = (
            carried.state.model_copy(deep=True)
            if carried
            else IncidentState.declared(workflow.info().workflow_id, inp, workflow.now())
        )
        self._next_step = carried.next_step if carried else 0
        self._outputs: dict[str, dict[str, Any]] = dict(carried.outputs) if carried else {}
        self._approvals: dict[str, list[Decision]] = dict(carried.approvals) if carried else {}
        self._rejections: dict[str, Decision] = dict(carried.rejections) if carried else {}
        self._commands: dict[str, tuple[DecisionKind, StepCommand]] = (
            dict(carried.commands) if carried else {}
        )
        self._abort: Abort | None = carried.abort if carried else None
        self._resolve: Resolve | None = carried.resolve if carried else None
        self._seen_alerts: set[tuple[str, str, str]] = (
            set(carried.seen_alerts) if carried else set()
        )
        self._next_update_at: datetime | None = carried.next_update_at if carried else None
        self._since_update: list[str] = list(carried.since_update) if carried else []
        self._params: dict[str, Any] = dict(inp.params)
        self._published: dict[str, str] = {}
        self._severity_changes = 0
        self._skip_mitigation = False
        self._background: list[asyncio.Task[None]] = []
        #: Notifications and compensations running now (the run continues as new only without).
        self._in_flight = 0
        self._continuing = False
        #: Whether this run writes the timeline's own records (a marker in its first task, so
        #: the timeline knows that a signal without a refusal record was applied).
        self._tells = workflow.patched(PATCH_TIMELINE)
        self._lists_commander = workflow.patched(PATCH_COMMANDER)

    # ---- run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: IncidentInput) -> IncidentState:
        self._publish()
        self._background.append(asyncio.create_task(self._cadence_loop()))
        if self._runbook.escalation and self._state.milestones.acknowledged is None:
            self._background.append(asyncio.create_task(self._acknowledge_or_escalate()))
        steps = self._runbook.steps
        try:
            index: int | None = self._next_step
            while index is not None and index < len(steps):
                self._next_step = index
                self._continue_if_long()
                index = await self._run_step(index, steps[index])
        except _ContinueAsNew:
            return await self._continue_as_new()
        if index is not None:
            self._close("resolved", "all steps done")
        await asyncio.gather(*self._background)
        await self._post_updates("final")
        await self._write_postmortem()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _write_postmortem(self) -> None:
        """The blameless postmortem draft, from the history, for people to finish; a draft
        that cannot be written never keeps the incident from closing."""
        if not workflow.patched(PATCH_POSTMORTEM):
            return
        try:
            await workflow.execute_activity(
                POSTMORTEM_ACTIVITY,
                {"incident_id": self._state.incident_id, "step": "postmortem"},
                result_type=str,
                start_to_close_timeout=POSTMORTEM_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_attempts=3, non_retryable_error_types=["NotFoundError"]
                ),
                summary="postmortem draft",
            )
        except ActivityError as err:
            workflow.logger.warning("postmortem draft not written: %s", err.cause)

    async def _run_step(self, index: int, step: Step) -> int | None:
        """Run one step to its end; the index of the step to run next, None when the incident
        closed instead."""
        state = self._step(step.id)
        if self._ending():
            await self._end()
            return None
        if state.status in ("succeeded", "skipped", "rejected"):
            return index + 1  # done before this run continued as new
        if step.phase != "communicate":
            self._state.phase = step.phase
        if step.phase in ("verify", "recover"):
            self._mitigation_done(index)
        if self._skip_mitigation and step.phase == "mitigate":
            self._finish_step(state, "skipped", decided_by="alerts resolved")
            self._record("skipped (alerts resolved)", step=step.id)
            return index + 1
        if self._skipped_by_condition(step, state):
            return index + 1
        if step.approval and state.status != "failed":
            verdict = await self._gate(step, step.approval, state)
            if verdict == "skip":
                return index + 1
            if verdict != "approved":
                return None
        while True:
            if state.status != "failed":
                state.status, state.started_at = "running", workflow.now()
                self._set_status(self._open_status())
                outcome = state.error or await self._attempt(step, state)
                if outcome is None:
                    return index + 1
                if outcome == "ended":
                    await self._end()
                    return None
                # Failed after its retries (or could not start): the failure policy decides.
                state.status, state.error, state.finished_at = "failed", outcome, workflow.now()
                self._since_update.append(f"step {step.id} failed: {outcome}")
                policy = step.on_failure
                if isinstance(policy, Goto):
                    return self._index_of(policy.goto)
                if policy == "continue":
                    return index + 1
                if policy == "abort":
                    await self._compensate()
                    self._close("aborted", f"step {step.id} failed: {outcome}")
                    return None
            kind = await self._await_command(step)
            if kind is None:
                await self._end()
                return None
            if kind == "skip":
                state.status = "skipped"
                return index + 1
            state.status, state.error, state.runs = "running", None, state.runs + 1
            if self._skipped_by_condition(step, state):
                return index + 1

    def _skipped_by_condition(self, step: Step, state: StepState) -> bool:
        """A false `when` skips the step; one that cannot be evaluated leaves `state.error`."""
        if step.when is None or step.when is True:
            return False
        try:
            # Jinja2 imports parts of itself lazily while compiling: those imports must come
            # from outside the sandbox like the rest of it.
            with workflow.unsafe.imports_passed_through():
                holds = step.when is not False and evaluate_when(step.when, self._template_data())
        except ValueError as problem:
            state.error = str(problem)
            return False
        if not holds:
            self._finish_step(state, "skipped", decided_by="condition", comment=str(step.when))
            self._record("skipped (condition)", step=step.id, detail=f"when {step.when} is false")
        return not holds

    async def _attempt(self, step: Step, state: StepState) -> str | None:
        """Run the step's activity (with its retries): None when it succeeded, else why not
        ("ended" when the incident was aborted or resolved meanwhile)."""
        if step.action in WORKFLOW_ACTIONS:
            return await self._in_workflow(step, state)
        inp = ActionInput(
            incident_id=self._state.incident_id,
            step=step.id,
            params=step.with_,
            context=self._inputs_for(step),
            outputs=step.outputs or {},
            idempotency_key=self._idempotency_key(step.id, state.runs),
        )
        if (size := size_of(inp.model_dump(mode="json"))) > INPUT_LIMIT:
            return (
                f"warroom.PayloadTooLarge: the input of step {step.id} would be {size // 1024} KiB, "
                f"over the {INPUT_LIMIT // 1024} KiB limit: declare `outputs` on the steps it "
                "reads so that only what it needs is passed on"
            )
        running = workflow.start_activity(
            step.action,
            inp,
            result_type=dict,
            start_to_close_timeout=_attempt_timeout(step),
            retry_policy=retry_policy(step.retry),
            heartbeat_timeout=HEARTBEAT_TIMEOUT if step.action in HEARTBEATING else None,
            summary=step.id,
        )
        if not await self._done_unless_ending(running):
            state.status, state.finished_at = "cancelled", workflow.now()
            return "ended"
        try:
            result = await running
        except ActivityError as err:
            state.attempts += _attempts(err, step.retry)
            return _failure_message(err)
        state.attempts += int(result.get("attempt", 1))
        self._finish_step(state, "succeeded")
        self._since_update.append(f"step {step.id} succeeded")
        kept = result.get("outputs") or {}
        if result.get("result") is not None:
            kept = {"result": result["result"]}
        self._outputs[step.id] = kept
        return None

    async def _in_workflow(self, step: Step, state: StepState) -> str | None:
        """`wait` (a durable timer an abort or resolve cuts short) and `note` (a timeline line)."""
        state.attempts += 1
        try:
            if step.action == WAIT:
                duration = WaitParams.model_validate(step.with_).duration
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._ending() is not None,
                        timeout=duration,
                        timeout_summary=f"wait: {step.id}",
                    )
                if self._ending():
                    return "ended"
            elif step.action == NOTE:
                text = NoteParams.model_validate(step.with_).text
                with workflow.unsafe.imports_passed_through():  # Jinja2's lazy imports
                    self._record(
                        "note", step=step.id, detail=render_text(text, self._template_data())
                    )
        except ValueError as problem:  # pydantic's ValidationError is one
            return f"warroom.ActionParamsError: {step.action}: {problem}"
        self._finish_step(state, "succeeded")
        return None

    def _idempotency_key(self, step_id: str, runs: int) -> str:
        key = f"{self._state.incident_id}:{step_id}"
        return f"{key}:{runs + 1}" if runs else key

    def _finish_step(self, state: StepState, status: StepStatus, **fields: Any) -> None:
        state.status, state.finished_at = status, workflow.now()
        for name, value in fields.items():
            setattr(state, name, value)

    def _index_of(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self._runbook.steps) if s.id == step_id)

    async def _done_unless_ending(self, running: workflow.ActivityHandle[Any]) -> bool:
        """Wait for a step's activity; an abort or resolve cancels it at once (False)."""
        await workflow.wait_condition(lambda: running.done() or self._ending() is not None)
        if running.done():
            return True
        running.cancel()
        with contextlib.suppress(ActivityError, asyncio.CancelledError):
            await running
        return False

    def _mitigation_done(self, index: int) -> None:
        """Past the mitigate steps: the incident is mitigated (time to mitigate)."""
        milestones = self._state.milestones
        ran_mitigation = any(s.phase == "mitigate" for s in self._runbook.steps[:index])
        if milestones.mitigated is None and ran_mitigation and workflow.patched(PATCH_MITIGATED):
            milestones.mitigated = workflow.now()
            self._since_update.append("mitigated")
            self._tell("mitigated", detail="the mitigate steps are done")
            self._set_status("mitigated")

    def _open_status(self) -> IncidentStatusName:
        return "mitigated" if self._state.milestones.mitigated else "active"

    # ---- approval gates --------------------------------------------------------------

    async def _gate(self, step: Step, approval: Approval, state: StepState) -> str:
        """Wait for the step's quorum: "approved", "skip" (mitigation skipped), or "closed"."""
        state.status = "awaiting_approval"
        self._set_status("awaiting_approval")
        within = f", within {format_duration(approval.timeout)}" if approval.timeout else ""
        self._tell(
            "approval requested",
            step=step.id,
            detail=f"{approval.min_approvals} of {', '.join(state.approvers)}{within}",
        )

        def decided() -> bool:
            return (
                self._quorum(step.id, state)
                or step.id in self._rejections
                or self._ending() is not None
                or (self._skip_mitigation and step.phase == "mitigate")
                or self._long()
            )

        try:
            await workflow.wait_condition(
                decided, timeout=approval.timeout, timeout_summary=f"approval: {step.id}"
            )
        except TimeoutError:
            waited = format_duration(approval.timeout or timedelta())
            why = f"approval of {step.id} timed out after {waited}"
            if approval.on_timeout == "reject":
                state.status, state.decided_by = "rejected", "timeout"
                self._tell("approval timed out", step=step.id, detail=f"{why}: rejected")
                await self._compensate()
                self._close("aborted", why)
                return "closed"
            if approval.on_timeout == "approve":
                self._record("approved (timeout)", step=step.id, detail=why)
                state.decided_by = "timeout"
                return "approved"
            self._record("approval timed out", step=step.id, detail=f"{why}: escalating")
            self._escalate_in_background(why, decided)
            await workflow.wait_condition(decided)
        self._continue_if_long()
        if self._ending():
            state.status = "pending"  # never decided: a closed incident waits for nobody
            await self._end()
            return "closed"
        if self._skip_mitigation and step.phase == "mitigate" and not self._quorum(step.id, state):
            self._finish_step(state, "skipped", decided_by="alerts resolved")
            self._record("skipped (alerts resolved)", step=step.id)
            self._set_status(self._open_status())
            return "skip"
        if step.id in self._rejections:
            decision = self._rejections[step.id]
            state.decided_by, state.comment = decision.by, decision.comment or None
            state.status, state.finished_at = "rejected", workflow.now()
            reason = f": {decision.comment}" if decision.comment else ""
            await self._compensate()
            self._close("aborted", f"{step.id} rejected by {decision.by}{reason}")
            return "closed"
        approvals = self._approvals.get(step.id, [])
        state.decided_by = ", ".join(d.by for d in approvals) or state.decided_by
        state.comment = "; ".join(d.comment for d in approvals if d.comment) or None
        return "approved"

    def _quorum(self, step_id: str, state: StepState) -> bool:
        return len(self._approvals.get(step_id, [])) >= state.min_approvals

    async def _await_command(self, step: Step) -> DecisionKind | None:
        """A step failed after its retries: wait for retry, skip, or the end (None)."""
        self._set_status("paused")

        def answered() -> bool:
            return step.id in self._commands or self._ending() is not None or self._long()

        if self._runbook.escalation and not answered():
            self._escalate_in_background(f"step {step.id} failed and waits for a person", answered)
        await workflow.wait_condition(answered)
        self._continue_if_long()
        if self._ending():
            return None
        kind, command = self._commands.pop(step.id)
        self._step(step.id).decided_by = command.by
        self._set_status(self._open_status())
        return kind

    def _ending(self) -> Abort | Resolve | None:
        return self._abort or self._resolve

    async def _end(self) -> None:
        """Close the incident the way a person asked: resolve, or abort (after undoing the
        completed steps that say how)."""
        if self._resolve is not None:
            comment = f": {self._resolve.comment}" if self._resolve.comment else ""
            self._close("resolved", f"resolved by {self._resolve.by}{comment}")
            return
        abort = self._abort or Abort(by="unknown")
        reason = f": {abort.reason}" if abort.reason else ""
        await self._compensate()
        self._close("aborted", f"aborted by {abort.by}{reason}")

    async def _compensate(self) -> None:
        """Undo completed steps that say how (`compensate`), newest first, before aborting."""
        for step in reversed(self._runbook.steps):
            undo, state = step.compensate, self._step(step.id)
            if undo is None or state.status != "succeeded":
                continue
            try:
                self._in_flight += 1
                await workflow.execute_activity(
                    undo.action,
                    ActionInput(
                        incident_id=self._state.incident_id,
                        step=f"compensate-{step.id}",
                        params=undo.with_,
                        context=self._inputs_for(undo),
                        idempotency_key=f"{self._state.incident_id}:compensate:{step.id}",
                    ),
                    result_type=dict,
                    start_to_close_timeout=step.timeout,
                    retry_policy=retry_policy(step.retry),
                    summary=f"compensate {step.id}",
                )
                self._record("compensated", step=step.id, detail=undo.action)
            except ActivityError as err:
                # Undoing is best effort: say it failed and go on with the others.
                self._record("compensation failed", step=step.id, detail=_failure_message(err))
            finally:
                self._in_flight -= 1

    # ---- status updates on the severity's cadence; escalation -------------------------

    async def _cadence_loop(self) -> None:
        while not self._state.is_closed:
            epoch = self._severity_changes  # a change re-arms the timer for the new severity
            interval = self._runbook.cadence.get(self._state.severity)
            if self._next_update_at is not None:  # carried over from the run before
                interval = max(self._next_update_at - workflow.now(), timedelta(seconds=1))
                self._next_update_at = None
            try:
                await workflow.wait_condition(
                    lambda: self._state.is_closed or self._severity_changes != epoch,  # noqa: B023
                    timeout=interval,
                    timeout_summary="next status update",
                )
            except TimeoutError:
                if not self._continuing:  # the next run posts it
                    await self._post_updates("cadence")

    async def _post_updates(self, kind: Literal["cadence", "final"]) -> None:
        text = self._update_text(kind)
        self._since_update = []
        posted = await self._notify(self._runbook.updates, "update", kind, text)
        self._state.updates_posted += posted
        self._state.updates_failed += len(self._runbook.updates) - posted

    async def _notify(self, targets: list[ActionRef], prefix: str, kind: str, text: str) -> int:
        """Post `text` to each target (an action taking `text`); how many went out. A lost
        notification never stops the incident."""
        data = {**self._template_data(), "update": {"kind": kind, "text": text}}
        posted = 0
        for number, target in enumerate(targets, start=1):
            params = {"text": "{{ update.text }}", **target.with_}
            self._in_flight += 1
            try:
                await workflow.execute_activity(
                    target.action,
                    ActionInput(
                        incident_id=self._state.incident_id,
                        step=f"{prefix}-{number}",
                        params=params,
                        # The kind too, so the timeline can tell cadence from final updates.
                        context=project(data, _referenced(params) | {("update", "kind")}),
                    ),
                    result_type=dict,
                    start_to_close_timeout=UPDATE_TIMEOUT,
                    retry_policy=retry_policy(RETRY_POLICIES["update"]),
                    summary=f"{'status update' if prefix == 'update' else prefix} ({kind}) #{number}",
                )
                posted += 1
            except ActivityError as err:
                workflow.logger.warning("%s %s failed: %s", prefix, number, err.cause)
            finally:
                self._in_flight -= 1
        return posted

    def _update_text(self, kind: str) -> str:
        s = self._state
        line = f"[{s.severity}] {s.title} ({s.incident_id}): {s.status.replace('_', ' ')}"
        if s.is_closed:
            return f"{line} — {s.outcome}"
        done = sum(1 for st in s.steps if st.status in ("succeeded", "skipped"))
        parts = [f"{line}, phase {s.phase}, {done}/{len(s.steps)} steps done"]
        elapsed = workflow.now() - s.started_at
        parts.append(
            f"declared {format_duration(timedelta(seconds=int(elapsed.total_seconds())))} ago"
        )
        if s.pending_approvals:
            parts.append("waiting for approval: " + ", ".join(p.id for p in s.pending_approvals))
        if kind == "cadence" and self._since_update:
            parts.append("since the last update: " + "; ".join(self._since_update[-10:]))
        return ". ".join(parts)

    async def _acknowledge_or_escalate(self) -> None:
        escalation = self._runbook.escalation
        if escalation is None:
            return

        def acknowledged() -> bool:
            return self._state.milestones.acknowledged is not None or self._state.is_closed

        try:
            await workflow.wait_condition(
                acknowledged,
                timeout=escalation.acknowledge_within,
                timeout_summary="acknowledge within",
            )
        except TimeoutError:
            waited = format_duration(escalation.acknowledge_within)
            await self._escalate(f"not acknowledged within {waited}", acknowledged)

    def _escalate_in_background(self, reason: str, until: Callable[[], bool]) -> None:
        if self._runbook.escalation is not None:
            self._background.append(asyncio.create_task(self._escalate(reason, until)))

    async def _escalate(self, reason: str, until: Callable[[], bool]) -> None:
        """Notify the escalation levels in turn, each after the previous one's wait, until
        `until` holds (acknowledged, decided) or the incident closes."""
        escalation = self._runbook.escalation
        if escalation is None:
            return
        for number, level in enumerate(escalation.levels, start=1):
            if until() or self._state.is_closed:
                return
            text = f"ESCALATION level {number}: {reason}. {self._update_text('escalation')}"
            delivered = await self._notify(level.notify, "escalation", f"level {number}", text)
            self._state.escalations.append(
                Escalated(level=number, at=workflow.now(), reason=reason, delivered=delivered > 0)
            )
            self._record("escalation sent", detail=f"level {number}: {reason}")
            if number == len(escalation.levels):
                return
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: until() or self._state.is_closed,
                    timeout=level.wait,
                    timeout_summary=f"escalation level {number + 1}",
                )

    # ---- long incidents ---------------------------------------------------------------

    def _long(self) -> bool:
        """Time to continue as new: the history is long, and no notification or compensation
        is in flight (it would be cut off, its outcome lost)."""
        info = workflow.info()
        long = (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > CONTINUE_AFTER_EVENTS
        )
        return long and self._in_flight == 0

    def _continue_if_long(self) -> None:
        if self._long() and not self._state.is_closed:
            raise _ContinueAsNew()

    async def _continue_as_new(self) -> IncidentState:
        """Hand the whole incident to a new run (handlers finished first, nothing lost)."""
        self._continuing = True
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self._in_flight == 0
        )
        interval = self._runbook.cadence.get(self._state.severity) or timedelta(hours=1)
        carried = CarriedState(
            state=self._state,
            next_step=self._next_step,
            outputs=self._outputs,
            approvals=self._approvals,
            rejections=self._rejections,
            commands=self._commands,
            abort=self._abort,
            resolve=self._resolve,
            seen_alerts=sorted(self._seen_alerts),
            next_update_at=self._next_update_at or workflow.now() + interval,
            since_update=self._since_update,
        )
        workflow.continue_as_new(self._input.model_copy(update={"carried": carried}))

    # ---- human decisions ---------------------------------------------------------------
    # Each decision comes as a signal (fire-and-forget, for the plain Temporal CLI) or as a
    # validated update (the caller learns at once whether it applied). Both go through
    # `_problem`, which also enforces the decision's deadline with workflow time, so a
    # decision that reaches the workflow after its sender gave up never applies.

    @workflow.signal
    def approve(self, decision: Decision) -> None:
        self._take("approve", decision, "signal")

    @workflow.signal
    def reject(self, decision: Decision) -> None:
        self._take("reject", decision, "signal")

    @workflow.signal
    def retry_step(self, command: StepCommand) -> None:
        self._take("retry", command, "signal")

    @workflow.signal
    def skip_step(self, command: StepCommand) -> None:
        self._take("skip", command, "signal")

    @workflow.signal
    def abort(self, abort: Abort) -> None:
        self._take("abort", abort, "signal")

    @workflow.signal
    def acknowledge(self, ack: Acknowledge) -> None:
        self._take("acknowledge", ack, "signal")

    @workflow.signal
    def assign(self, assign: Assign) -> None:
        self._take("assign", assign, "signal")

    @workflow.signal
    def note(self, note: Note) -> None:
        self._take("note", note, "signal")

    @workflow.signal
    def set_severity(self, change: SetSeverity) -> None:
        self._take("severity", change, "signal")

    @workflow.signal
    def resolve(self, resolve: Resolve) -> None:
        self._take("resolve", resolve, "signal")

    @workflow.signal
    def alert(self, alert: Alert) -> None:
        self._alert(alert)

    @workflow.signal
    def alerts(self, alerts: list[Alert]) -> None:
        """A notification's alerts in one signal (what warroom's API sends), each applied as
        the `alert` signal applies one; more than ALERTS_PER_SIGNAL is malformed: dropped."""
        if len(alerts) > ALERTS_PER_SIGNAL:
            workflow.logger.warning(
                f"alerts signal of {len(alerts)} alerts dropped: at most {ALERTS_PER_SIGNAL}"
            )
            return
        for alert in alerts:
            self._alert(alert)

    @workflow.update
    async def approve_step(self, decision: Decision) -> StepState:
        self._take("approve", decision, "update")
        return await self._applied(decision.step, "awaiting_approval", short_of_quorum=True)

    @approve_step.validator
    def _validate_approve(self, decision: Decision) -> None:
        self._refuse_if_invalid("approve", decision)

    @workflow.update
    async def reject_step(self, decision: Decision) -> StepState:
        self._take("reject", decision, "update")
        return await self._applied(decision.step, "awaiting_approval")

    @reject_step.validator
    def _validate_reject(self, decision: Decision) -> None:
        self._refuse_if_invalid("reject", decision)

    # An update cannot share a name with a signal: these are the update forms of the
    # `retry_step`, `skip_step`, `abort`, ... signals.
    @workflow.update(name="retry_failed_step")
    async def retry_failed_step(self, command: StepCommand) -> StepState:
        self._take("retry", command, "update")
        return await self._applied(command.step, "failed")

    @retry_failed_step.validator
    def _validate_retry(self, command: StepCommand) -> None:
        self._refuse_if_invalid("retry", command)

    @workflow.update(name="skip_failed_step")
    async def skip_failed_step(self, command: StepCommand) -> StepState:
        self._take("skip", command, "update")
        return await self._applied(command.step, "failed")

    @skip_failed_step.validator
    def _validate_skip(self, command: StepCommand) -> None:
        self._refuse_if_invalid("skip", command)

    @workflow.update(name="abort_incident")
    async def abort_incident(self, abort: Abort) -> IncidentState:
        self._take("abort", abort, "update")
        await workflow.wait_condition(lambda: self._state.is_closed)
        return self._state

    @abort_incident.validator
    def _validate_abort(self, abort: Abort) -> None:
        self._refuse_if_invalid("abort", abort)

    @workflow.update(name="resolve_incident")
    async def resolve_incident(self, resolve: Resolve) -> IncidentState:
        self._take("resolve", resolve, "update")
        await workflow.wait_condition(lambda: self._state.is_closed)
        return self._state

    @resolve_incident.validator
    def _validate_resolve(self, resolve: Resolve) -> None:
        self._refuse_if_invalid("resolve", resolve)

    @workflow.update(name="acknowledge_incident")
    def acknowledge_incident(self, ack: Acknowledge) -> IncidentState:
        self._take("acknowledge", ack, "update")
        return self._state

    @acknowledge_incident.validator
    def _validate_acknowledge(self, ack: Acknowledge) -> None:
        self._refuse_if_invalid("acknowledge", ack)

    @workflow.update(name="assign_role")
    def assign_role(self, assign: Assign) -> IncidentState:
        self._take("assign", assign, "update")
        return self._state

    @assign_role.validator
    def _validate_assign(self, assign: Assign) -> None:
        self._refuse_if_invalid("assign", assign)

    @workflow.update(name="add_note")
    def add_note(self, note: Note) -> IncidentState:
        self._take("note", note, "update")
        return self._state

    @add_note.validator
    def _validate_note(self, note: Note) -> None:
        self._refuse_if_invalid("note", note)

    @workflow.update(name="change_severity")
    def change_severity(self, change: SetSeverity) -> IncidentState:
        self._take("severity", change, "update")
        return self._state

    @change_severity.validator
    def _validate_severity(self, change: SetSeverity) -> None:
        self._refuse_if_invalid("severity", change)

    async def _applied(
        self, step_id: str, waiting: StepStatus, *, short_of_quorum: bool = False
    ) -> StepState:
        """The step once the run loop has applied the decision (same workflow task), so the
        caller sees the outcome (running / rejected / skipped, decided_by), not the stale wait.
        An approval that leaves the quorum short answers at once, with who has approved so far."""
        state = self._step(step_id)
        await workflow.wait_condition(
            lambda: (
                state.status != waiting
                or self._state.is_closed
                or (short_of_quorum and not self._quorum(step_id, state))
            )
        )
        return state

    @workflow.query
    def status(self) -> IncidentState:
        return self._state

    def _problem(self, kind: DecisionKind, decision: HumanDecision) -> str | None:
        """Why `decision` cannot apply now, or None when it can."""
        if decision.deadline is not None and workflow.now() > decision.deadline:
            return f"arrived after its deadline ({decision.deadline:%H:%M:%S} UTC)"
        if self._state.is_closed:
            return f"the incident is closed ({self._state.status})"
        if isinstance(decision, Decision):
            return self._approval_problem(kind, decision)
        if isinstance(decision, StepCommand):
            return self._command_problem(decision)
        if isinstance(decision, Acknowledge):
            acked = self._state.milestones.acknowledged
            if acked is not None:
                commander = self._state.roles.get("commander", "someone")
                return (
                    f"already acknowledged at {acked:%H:%M:%S} UTC ({commander} is commander): "
                    "use assign to hand over"
                )
        if isinstance(decision, SetSeverity) and decision.severity == self._state.severity:
            return f"the severity is already {decision.severity}"
        if isinstance(decision, Assign) and self._state.roles.get(decision.role) == decision.to:
            return f"{decision.to} is already {decision.role}"
        ending = self._ending()
        if isinstance(decision, Abort | Resolve) and ending is not None:
            what = "an abort" if isinstance(ending, Abort) else "a resolve"
            return f"{what} by {ending.by} is already under way"
        return None

    def _approval_problem(self, kind: DecisionKind, decision: Decision) -> str | None:
        state = self._find_step(decision.step)
        if state is None:
            return self._no_such_step(decision.step)
        if not state.approvers:
            return f"step {decision.step!r} needs no approval"
        if decision.step in self._rejections:
            earlier = self._rejections[decision.step]
            return f"step {decision.step!r} was already rejected by {earlier.by}"
        if self._quorum(decision.step, state) and state.status != "awaiting_approval":
            names = ", ".join(d.by for d in self._approvals[decision.step])
            return f"step {decision.step!r} was already approved by {names}"
        if not approver_allowed(state.approvers, decision.by):
            return (
                f"{decision.by} is not an approver of step {decision.step!r} "
                f"(approvers: {', '.join(state.approvers)})"
            )
        if state.status != "awaiting_approval":
            return f"step {decision.step!r} is not waiting for approval (it is {state.status})"
        if kind == "approve" and decision.by == self._state.declared_by:
            return (
                f"{decision.by} declared the incident, and the declarer never counts toward "
                "an approval: ask another approver"
            )
        if kind == "approve" and any(
            d.by == decision.by for d in self._approvals.get(decision.step, [])
        ):
            have = len(self._approvals[decision.step])
            return (
                f"{decision.by} has already approved step {decision.step!r} "
                f"({have} of {state.min_approvals} distinct approvals)"
            )
        return None

    def _command_problem(self, command: StepCommand) -> str | None:
        state = self._find_step(command.step)
        if state is None:
            return self._no_such_step(command.step)
        if command.step in self._commands:
            earlier_kind, earlier = self._commands[command.step]
            return f"a {earlier_kind} of step {command.step!r} by {earlier.by} is already under way"
        if state.status != "failed":
            return f"step {command.step!r} has not failed (it is {state.status})"
        return None

    def _no_such_step(self, step_id: str) -> str:
        known = ", ".join(s.id for s in self._state.steps)
        return f"no step {step_id!r} in this incident (steps: {known})"

    def _refuse_if_invalid(self, kind: DecisionKind, decision: HumanDecision) -> None:
        problem = self._problem(kind, decision)
        if problem:
            raise ApplicationError(problem, type="warroom.DecisionRefused", non_retryable=True)

    def _take(self, kind: DecisionKind, decision: HumanDecision, via: Via) -> None:
        """Apply a decision unless it has a problem; record it either way (the audit trail of
        who decided what, and why a plain signal changed nothing)."""
        problem = self._problem(kind, decision)
        self._state.decisions.append(
            DecisionRecord(
                kind=kind,
                by=decision.by,
                at=workflow.now(),
                via=via,
                step=getattr(decision, "step", None),
                comment=_remark(decision),
                refused=problem,
            )
        )
        if problem:
            workflow.logger.warning("refused %s %s by %s: %s", via, kind, decision.by, problem)
            if via == "signal":  # an update's caller was told; a signal's sender only sees this
                self._tell(
                    f"{kind} refused",
                    step=getattr(decision, "step", None),
                    detail=problem,
                    actor=decision.by,
                )
            return
        self._since_update.append(f"{kind} by {decision.by}")
        self._apply(kind, decision)

    def _apply(self, kind: DecisionKind, decision: HumanDecision) -> None:
        s = self._state
        if isinstance(decision, Decision):
            if kind == "reject":
                self._rejections[decision.step] = decision
            else:
                self._approvals.setdefault(decision.step, []).append(decision)
                self._step(decision.step).approved_by.append(decision.by)
        elif isinstance(decision, StepCommand):
            self._commands[decision.step] = (kind, decision)
        elif isinstance(decision, Abort):
            self._abort = decision
        elif isinstance(decision, Resolve):
            self._resolve = decision
        elif isinstance(decision, Acknowledge):
            s.milestones.acknowledged = workflow.now()
            s.roles.setdefault("commander", decision.by)
            self._publish()
        elif isinstance(decision, Assign):
            s.roles[decision.role] = decision.to
            self._publish()
        elif isinstance(decision, SetSeverity):
            s.severity = decision.severity
            self._severity_changes += 1  # the cadence timer re-arms for the new severity now
            self._publish()

    # ---- alerts -----------------------------------------------------------------------

    def _alert(self, alert: Alert) -> None:
        """An alert notification joins the incident; the same notification twice counts once."""
        s = self._state
        s.alerts_received += 1
        if alert.dedup_key in self._seen_alerts:
            s.alerts_duplicate += 1
            return
        self._seen_alerts.add(alert.dedup_key)
        now = workflow.now()
        known = next((a for a in s.alerts if a.fingerprint == alert.fingerprint), None)
        if known is None:
            s.alerts.append(AlertState(**alert.model_dump(), first_seen=now, last_seen=now))
            self._since_update.append(f"alert {alert.fingerprint} {alert.status}")
        else:
            refired = known.status == "resolved" and alert.status == "firing"
            known.status, known.last_seen = alert.status, now
            known.notifications += 1
            known.ends_at = alert.ends_at
            if refired:
                self._record("alert re-fired", detail=alert.fingerprint)
            self._since_update.append(f"alert {alert.fingerprint} {alert.status}")
        if alert.status == "resolved" and s.alerts and not s.firing_alerts and not s.is_closed:
            self._all_alerts_resolved()

    def _all_alerts_resolved(self) -> None:
        policy = self._runbook.on_alert_resolved
        mitigation_ran = any(
            st.phase == "mitigate" and st.status in ("running", "succeeded", "failed")
            for st in self._state.steps
        )
        self._record("alerts resolved", detail=f"every alert resolved; on_alert_resolved: {policy}")
        if policy == "resolve" and self._resolve is None and self._abort is None:
            self._resolve = Resolve(by="alerts", comment="every alert resolved")
        elif policy == "skip_mitigation" and not mitigation_ran:
            self._skip_mitigation = True

    # ---- state ------------------------------------------------------------------------

    def _step(self, step_id: str) -> StepState:
        return next(s for s in self._state.steps if s.id == step_id)

    def _find_step(self, step_id: str) -> StepState | None:
        return next((s for s in self._state.steps if s.id == step_id), None)

    def _template_data(self) -> dict[str, Any]:
        """Everything templates may see (but secrets, which only the worker has)."""
        incident = self._state.model_dump(mode="json", exclude=set(NOT_FOR_TEMPLATES))
        steps = {
            s.id: {"status": s.status, **self._outputs.get(s.id, {})}
            for s in self._state.steps
            if s.status in ("succeeded", "skipped", "failed")
        }
        alert = self._state.alerts[0].model_dump(mode="json") if self._state.alerts else {}
        return {"incident": incident, "params": dict(self._params), "steps": steps, "alert": alert}

    def _inputs_for(self, ref: ActionRef) -> dict[str, Any]:
        """Only what the action's own templates reference, so that history stays small."""
        return project(self._template_data(), _referenced(ref.with_))

    def _record(
        self, event: str, *, step: str | None = None, detail: str = "", actor: str | None = None
    ) -> None:
        """Put something the workflow decided on its own into history, for the timeline.

        A memo upsert is the one command that records data without doing anything else.
        """
        recorded: dict[str, Any] = {"event": event, "step": step, "detail": detail}
        if actor is not None:
            recorded["actor"] = actor
        workflow.upsert_memo({"event": recorded})

    def _tell(self, event: str, **fields: Any) -> None:
        """A record the timeline reads that older runs of this code did not write."""
        if self._tells:
            self._record(event, **fields)

    def _set_status(self, status: IncidentStatusName) -> None:
        self._state.status = status
        self._publish()

    def _close(self, status: IncidentStatusName, outcome: str) -> None:
        s = self._state
        s.outcome, s.closed_at = outcome, workflow.now()
        if status == "resolved":
            s.milestones.resolved = s.closed_at
            if s.milestones.mitigated is None and workflow.patched(PATCH_MITIGATED):
                s.milestones.mitigated = s.closed_at
        self._set_status(status)

    def _publish(self) -> None:
        """Keep the search attributes (and the Temporal UI's status line) current; upsert
        only what changed."""
        s = self._state
        wanted = {
            sa.SEVERITY.name: s.severity,
            sa.SERVICE.name: s.service,
            sa.STATUS.name: s.status,
            sa.PHASE.name: s.phase,
            sa.RUNBOOK.name: s.runbook,
        }
        if self._lists_commander and "commander" in s.roles:
            wanted[sa.COMMANDER.name] = s.roles["commander"]
        changed = [
            key.value_set(wanted[key.name])
            for key in sa.ALL
            if key.name in wanted and self._published.get(key.name) != wanted[key.name]
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
            self._published = wanted
        waiting = ", ".join(p.id for p in s.pending_approvals) or "none"
        commander = s.roles.get("commander", "nobody yet")
        workflow.set_current_details(
            f"**{s.status.replace('_', ' ')}** · {s.severity} · phase {s.phase} · "
            f"waiting for approval: {waiting} · commander: {commander}"
        )


def _attempt_timeout(step: Step) -> timedelta:
    """The step's `timeout`, or for a long action, at least its own `timeout` and a grace."""
    own = HEARTBEATING.get(step.action)
    if own is None:
        return step.timeout
    given = step.with_.get("timeout")
    if isinstance(given, str) and "{" not in given:
        with contextlib.suppress(ValueError):
            own = parse_duration(given)
    return max(step.timeout, own + KILL_GRACE)


def _remark(decision: HumanDecision) -> str | None:
    for field in ("comment", "reason", "text"):
        value = getattr(decision, field, None)
        if value:
            return str(value)
    if isinstance(decision, Assign):
        return f"{decision.role} → {decision.to}"
    if isinstance(decision, SetSeverity):
        return decision.severity
    return None


def _referenced(value: Any) -> set[tuple[str, ...]]:
    """Every data path the templates inside `value` (dicts and lists walked) refer to."""
    with workflow.unsafe.imports_passed_through():  # as for `when`: Jinja2's lazy imports
        return references_in(value)


def _attempts(err: ActivityError, retry: RetrySpec) -> int:
    """How many attempts a failed activity made: from the error details, else from the policy."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return retry.max_attempts
    return 1


def _failure_message(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause or err)
