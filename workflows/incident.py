"""IncidentWorkflow: one production incident, from declared to resolved.

Runs the runbook's steps in order as activities, holds risky steps at approval gates,
pauses on a step that failed after its retries until a human says retry, skip or abort,
and posts status updates on a durable timer at the severity's cadence.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from warroom import search_attributes as sa
    from warroom.dataflow import INPUT_LIMIT, evaluate_when, project, size_of
    from warroom.durations import format_duration
    from warroom.models import (
        NOT_FOR_TEMPLATES,
        Abort,
        ActionInput,
        Decision,
        DecisionKind,
        DecisionRecord,
        HumanDecision,
        IncidentInput,
        IncidentState,
        IncidentStatusName,
        StepCommand,
        StepState,
        StepStatus,
    )
    from warroom.runbook import RETRY_POLICIES, ActionRef, Approval, Goto, RetrySpec, Step
    from warroom.template_refs import references

#: Time given to one status-update post (each target), retries included per RETRY_POLICIES["update"].
UPDATE_TIMEOUT = timedelta(seconds=30)

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


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, inp: IncidentInput) -> None:
        self._runbook = inp.runbook
        self._state = IncidentState.declared(workflow.info().workflow_id, inp, workflow.now())
        self._decisions: dict[str, tuple[DecisionKind, Decision]] = {}
        self._commands: dict[str, tuple[DecisionKind, StepCommand]] = {}
        self._abort: Abort | None = None
        self._outputs: dict[str, dict[str, Any]] = {}
        self._params: dict[str, Any] = dict(inp.params)
        self._published: dict[str, str] = {}

    # ---- run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: IncidentInput) -> IncidentState:
        self._publish()
        cadence = asyncio.create_task(self._cadence_loop())
        steps = self._runbook.steps
        index: int | None = 0
        while index is not None and index < len(steps):
            index = await self._run_step(index, steps[index])
        if index is not None:
            self._close("resolved", "all steps done")
        await cadence
        await self._post_updates("final")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _run_step(self, index: int, step: Step) -> int | None:
        """Run one step to its end; the index of the step to run next, None when the incident
        closed instead."""
        state = self._step(step.id)
        if self._abort:
            self._aborted()
            return None
        if step.phase != "communicate":
            self._state.phase = step.phase
        if self._skipped_by_condition(step, state):
            return index + 1
        if step.approval and not await self._approved(step, step.approval, state):
            return None
        while True:
            state.status, state.started_at = "running", workflow.now()
            self._set_status("active")
            outcome = state.error or await self._attempt(step, state)
            if outcome is None:
                return index + 1
            if outcome == "aborted":
                self._aborted()
                return None
            # Failed after its retries (or could not start): the step's failure policy decides.
            state.status, state.error, state.finished_at = "failed", outcome, workflow.now()
            policy = step.on_failure
            if isinstance(policy, Goto):
                return self._index_of(policy.goto)
            if policy == "continue":
                return index + 1
            if policy == "abort":
                self._close("aborted", f"step {step.id} failed: {outcome}")
                return None
            kind = await self._await_command(step)
            if kind is None:
                self._aborted()
                return None
            if kind == "skip":
                state.status = "skipped"
                return index + 1
            state.error = None
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
        ("aborted" when the incident was aborted meanwhile)."""
        inp = ActionInput(
            incident_id=self._state.incident_id,
            step=step.id,
            params=step.with_,
            context=self._inputs_for(step),
            outputs=step.outputs or {},
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
            start_to_close_timeout=step.timeout,
            retry_policy=retry_policy(step.retry),
            summary=step.id,
        )
        if not await self._done_unless_aborted(running):
            state.status, state.finished_at = "cancelled", workflow.now()
            return "aborted"
        try:
            result = await running
        except ActivityError as err:
            state.attempts += _attempts(err, step.retry)
            return _failure_message(err)
        state.attempts += int(result.get("attempt", 1))
        self._finish_step(state, "succeeded")
        kept = result.get("outputs") or {}
        if result.get("result") is not None:
            kept = {"result": result["result"]}
        self._outputs[step.id] = kept
        return None

    def _finish_step(self, state: StepState, status: StepStatus, **fields: Any) -> None:
        state.status, state.finished_at = status, workflow.now()
        for name, value in fields.items():
            setattr(state, name, value)

    def _index_of(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self._runbook.steps) if s.id == step_id)

    async def _done_unless_aborted(self, running: workflow.ActivityHandle[Any]) -> bool:
        """Wait for a step's activity; an abort cancels it at once (False), even mid-retries."""
        await workflow.wait_condition(lambda: running.done() or self._abort is not None)
        if running.done():
            return True
        running.cancel()
        with contextlib.suppress(ActivityError, asyncio.CancelledError):
            await running
        return False

    async def _approved(self, step: Step, approval: Approval, state: StepState) -> bool:
        state.status = "awaiting_approval"
        self._set_status("awaiting_approval")
        try:
            await workflow.wait_condition(
                lambda: step.id in self._decisions or self._abort is not None,
                timeout=approval.timeout,
                timeout_summary=f"approval: {step.id}",
            )
        except TimeoutError:
            state.status, state.decided_by = "rejected", "timeout"
            waited = format_duration(approval.timeout or timedelta())
            self._close("aborted", f"approval of {step.id} timed out after {waited}")
            return False
        if self._abort:
            state.status = "pending"  # never decided: a closed incident waits for nobody
            self._aborted()
            return False
        kind, decision = self._decisions[step.id]
        state.decided_by, state.comment = decision.by, decision.comment or None
        if kind == "reject":
            state.status, state.finished_at = "rejected", workflow.now()
            reason = f": {decision.comment}" if decision.comment else ""
            self._close("aborted", f"{step.id} rejected by {decision.by}{reason}")
            return False
        return True

    async def _await_command(self, step: Step) -> DecisionKind | None:
        """A step failed after its retries: wait for retry, skip or abort (None)."""
        self._set_status("paused")
        await workflow.wait_condition(lambda: step.id in self._commands or self._abort is not None)
        if self._abort:
            return None
        kind, command = self._commands.pop(step.id)
        self._step(step.id).decided_by = command.by
        self._set_status("active")
        return kind

    def _aborted(self) -> None:
        abort = self._abort or Abort(by="unknown")
        reason = f": {abort.reason}" if abort.reason else ""
        self._close("aborted", f"aborted by {abort.by}{reason}")

    # ---- status updates on the severity's cadence ------------------------------------

    async def _cadence_loop(self) -> None:
        while not self._state.is_closed:
            interval = self._runbook.cadence.get(self._state.severity)
            try:
                await workflow.wait_condition(
                    lambda: self._state.is_closed,
                    timeout=interval,
                    timeout_summary="next status update",
                )
            except TimeoutError:
                await self._post_updates("cadence")

    async def _post_updates(self, kind: Literal["cadence", "final"]) -> None:
        data = {**self._template_data(), "update": {"kind": kind, "text": self._status_line()}}
        for number, target in enumerate(self._runbook.updates, start=1):
            params = {"text": "{{ update.text }}", **target.with_}
            try:
                await workflow.execute_activity(
                    target.action,
                    ActionInput(
                        incident_id=self._state.incident_id,
                        step=f"update-{number}",
                        params=params,
                        context=project(data, _referenced(params)),
                    ),
                    result_type=dict,
                    start_to_close_timeout=UPDATE_TIMEOUT,
                    retry_policy=retry_policy(RETRY_POLICIES["update"]),
                    summary=f"status update ({kind}) #{number}",
                )
                self._state.updates_posted += 1
            except ActivityError as err:
                # A lost status update must never stop the incident: count it and go on.
                self._state.updates_failed += 1
                workflow.logger.warning("status update %s failed: %s", number, err.cause)

    def _status_line(self) -> str:
        s = self._state
        done = sum(1 for st in s.steps if st.status in ("succeeded", "skipped"))
        line = f"[{s.severity}] {s.title} ({s.incident_id}): {s.status.replace('_', ' ')}"
        if s.is_closed:
            return f"{line} — {s.outcome}"
        return f"{line}, phase {s.phase}, {done}/{len(s.steps)} steps done"

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

    @workflow.update
    async def approve_step(self, decision: Decision) -> StepState:
        self._take("approve", decision, "update")
        return await self._applied(decision.step, "awaiting_approval")

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
    # `retry_step`, `skip_step` and `abort` signals.
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

    async def _applied(self, step_id: str, waiting: StepStatus) -> StepState:
        """The step once the run loop has applied the decision (same workflow task), so the
        caller sees the outcome (running / rejected / skipped, decided_by), not the stale wait."""
        state = self._step(step_id)
        await workflow.wait_condition(lambda: state.status != waiting or self._state.is_closed)
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
            return self._approval_problem(decision)
        if isinstance(decision, StepCommand):
            return self._command_problem(decision)
        if self._abort is not None:
            return f"an abort by {self._abort.by} is already under way"
        return None

    def _approval_problem(self, decision: Decision) -> str | None:
        state = self._find_step(decision.step)
        if state is None:
            return self._no_such_step(decision.step)
        if not state.approvers:
            return f"step {decision.step!r} needs no approval"
        if decision.step in self._decisions:
            earlier_kind, earlier = self._decisions[decision.step]
            done = "approved" if earlier_kind == "approve" else "rejected"
            return f"step {decision.step!r} was already {done} by {earlier.by}"
        if state.status != "awaiting_approval":
            return f"step {decision.step!r} is not waiting for approval (it is {state.status})"
        if not approver_allowed(state.approvers, decision.by):
            return (
                f"{decision.by!r} may not decide step {decision.step!r}: "
                f"approvers are {', '.join(state.approvers)}"
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
                comment=getattr(decision, "comment", None) or getattr(decision, "reason", None),
                refused=problem,
            )
        )
        if problem:
            workflow.logger.warning("refused %s %s by %s: %s", via, kind, decision.by, problem)
        elif isinstance(decision, Decision) and kind in ("approve", "reject"):
            self._decisions[decision.step] = (kind, decision)
        elif isinstance(decision, StepCommand) and kind in ("retry", "skip"):
            self._commands[decision.step] = (kind, decision)
        elif isinstance(decision, Abort):
            self._abort = decision

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
        return {"incident": incident, "params": dict(self._params), "steps": steps}

    def _inputs_for(self, ref: ActionRef) -> dict[str, Any]:
        """Only what the action's own templates reference, so that history stays small."""
        return project(self._template_data(), _referenced(ref.with_))

    def _record(self, event: str, *, step: str | None = None, detail: str = "") -> None:
        """Put something the workflow decided on its own into history, for the timeline.

        A memo upsert is the one command that records data without doing anything else.
        """
        workflow.upsert_memo({"event": {"event": event, "step": step, "detail": detail}})

    def _set_status(self, status: IncidentStatusName) -> None:
        self._state.status = status
        self._publish()

    def _close(self, status: IncidentStatusName, outcome: str) -> None:
        self._state.outcome, self._state.closed_at = outcome, workflow.now()
        self._set_status(status)

    def _publish(self) -> None:
        """Keep the search attributes current; upsert only what changed."""
        s = self._state
        wanted = {
            sa.SEVERITY.name: s.severity,
            sa.SERVICE.name: s.service,
            sa.STATUS.name: s.status,
            sa.PHASE.name: s.phase,
            sa.RUNBOOK.name: s.runbook,
        }
        changed = [
            key.value_set(wanted[key.name])
            for key in sa.ALL
            if self._published.get(key.name) != wanted[key.name]
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
            self._published = wanted


def _referenced(value: Any) -> set[tuple[str, ...]]:
    """Every data path the templates inside `value` (dicts and lists walked) refer to."""
    if isinstance(value, str):
        if "{" not in value:
            return set()
        with workflow.unsafe.imports_passed_through():  # as for `when`: Jinja2's lazy imports
            return references(value)
    if isinstance(value, dict):
        return set().union(*(_referenced(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_referenced(v) for v in value))
    return set()


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
