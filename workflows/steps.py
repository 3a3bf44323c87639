"""The step interpreter: runs one runbook step to its end (condition, approval gate, activity or
in-workflow action, failure policy), for IncidentWorkflow's run loop.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from warroom.contract.models import ActionInput, StepState
from warroom.errors import SecretMissing
from warroom.expressions.dataflow import INPUT_LIMIT, evaluate_when, render_text, size_of
from warroom.language.durations import parse_duration
from warroom.language.runbook import Goto, RetrySpec, Step
from warroom.language.workflow_actions import (
    NOTE,
    WAIT,
    WORKFLOW_ACTIONS,
    NoteParams,
    WaitParams,
)
from workflows.context import (
    PATCH_MITIGATED,
    PATCH_MITIGATION_RAN,
    PATCH_UNSET_TARGET,
    IncidentContext,
    failure_message,
    retry_policy,
)
from workflows.gates import Gates

#: Action kinds that run long and heartbeat (a worker that dies mid-wait is noticed within
#: HEARTBEAT_TIMEOUT), with their own `timeout` argument's default: an attempt gets at least
#: that long plus KILL_GRACE, whatever the step's `timeout` says.
HEARTBEATING: dict[str, timedelta] = {
    "http.wait": timedelta(minutes=10),
    "prometheus.wait": timedelta(minutes=10),
    "exec": timedelta(minutes=5),
}
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
#: Action kinds that notify people (the kinds a status update or escalation may use, and
#: paging and status pages): a step of one whose secret is unset is skipped with a warning.
NOTIFICATION_ACTIONS = frozenset(
    {"webhook.post", "slack.post", "email.send", "pagerduty.event", "statuspage.update"}
)
KILL_GRACE = timedelta(seconds=30)


class Steps:
    """Runs the runbook's steps for one incident run; holds nothing of its own."""

    def __init__(self, incident: IncidentContext, gates: Gates) -> None:
        self.incident = incident
        self.gates = gates

    async def run_step(self, index: int, step: Step) -> int | None:
        """Run one step to its end; the index of the step to run next, None when the incident
        closed instead."""
        inc = self.incident
        state = inc.step(step.id)
        if inc.ending():
            await self.gates.end()
            return None
        if state.status in ("succeeded", "skipped", "rejected"):
            return index + 1  # done before this run continued as new
        if step.phase != "communicate":
            inc.state.phase = step.phase
        if step.phase in ("verify", "recover"):
            self._mitigation_done(index)
        if inc.skip_mitigation and step.phase == "mitigate":
            inc.finish_step(state, "skipped", decided_by="alerts resolved")
            inc.record("skipped (alerts resolved)", step=step.id)
            return index + 1
        if self._skipped_by_condition(step, state):
            return index + 1
        if step.approval and state.status != "failed":
            verdict = await self.gates.gate(step, step.approval, state)
            if verdict == "skip":
                return index + 1
            if verdict != "approved":
                return None
        while True:
            if state.status != "failed":
                state.status, state.started_at = "running", workflow.now()
                inc.set_status(inc.open_status())
                outcome = state.error or await self._attempt(step, state)
                if outcome is None:
                    return index + 1
                if outcome == "ended":
                    await self.gates.end()
                    return None
                # Failed after its retries (or could not start): the failure policy decides.
                state.status, state.error, state.finished_at = "failed", outcome, workflow.now()
                inc.since_update.append(f"step {step.id} failed: {outcome}")
                policy = step.on_failure
                if isinstance(policy, Goto):
                    return self._index_of(policy.goto)
                if policy == "continue":
                    return index + 1
                if policy == "abort":
                    await self.gates.compensate()
                    inc.close("aborted", f"step {step.id} failed: {outcome}")
                    return None
            kind = await self.gates.await_command(step)
            if kind is None:
                await self.gates.end()
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
                holds = step.when is not False and evaluate_when(
                    step.when, self.incident.template_data()
                )
        except ValueError as problem:
            state.error = str(problem)
            return False
        if not holds:
            self.incident.finish_step(
                state, "skipped", decided_by="condition", comment=str(step.when)
            )
            self.incident.record(
                "skipped (condition)", step=step.id, detail=f"when {step.when} is false"
            )
        return not holds

    async def _attempt(self, step: Step, state: StepState) -> str | None:
        """Run the step's activity (with its retries): None when it succeeded, else why not
        ("ended" when the incident was aborted or resolved meanwhile)."""
        if step.action in WORKFLOW_ACTIONS:
            return await self._in_workflow(step, state)
        inc = self.incident
        inp = ActionInput(
            incident_id=inc.state.incident_id,
            step=step.id,
            params=step.with_,
            context=inc.inputs_for(step),
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
            start_to_close_timeout=attempt_timeout(step),
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
            state.attempts += attempts(err, step.retry)
            if self._unset_target(step, err):
                inc.finish_step(
                    state, "skipped", decided_by="secret unset", error=failure_message(err)
                )
                inc.record(
                    "skipped (secret unset)",
                    step=step.id,
                    detail=f"warning: nothing sent: {failure_message(err)}",
                )
                return None
            return failure_message(err)
        state.attempts += int(result.get("attempt", 1))
        inc.finish_step(state, "succeeded")
        inc.since_update.append(f"step {step.id} succeeded")
        kept = result.get("outputs") or {}
        if result.get("result") is not None:
            kept = {"result": result["result"]}
        inc.outputs[step.id] = kept
        return None

    async def _in_workflow(self, step: Step, state: StepState) -> str | None:
        """`wait` (a durable timer an abort or resolve cuts short) and `note` (a timeline line)."""
        inc = self.incident
        state.attempts += 1
        try:
            if step.action == WAIT:
                duration = WaitParams.model_validate(step.with_).duration
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: inc.ending() is not None,
                        timeout=duration,
                        timeout_summary=f"wait: {step.id}",
                    )
                if inc.ending():
                    return "ended"
            elif step.action == NOTE:
                text = NoteParams.model_validate(step.with_).text
                with workflow.unsafe.imports_passed_through():  # Jinja2's lazy imports
                    inc.record("note", step=step.id, detail=render_text(text, inc.template_data()))
        except ValueError as problem:  # pydantic's ValidationError is one
            return f"warroom.ActionParamsError: {step.action}: {problem}"
        inc.finish_step(state, "succeeded")
        return None

    def _unset_target(self, step: Step, err: ActivityError) -> bool:
        """A notification step whose secret (its URL, key or token) is unset on the worker:
        nothing to send it to, which is no reason to stop the incident."""
        cause = err.cause
        return (
            step.action in NOTIFICATION_ACTIONS
            and isinstance(cause, ApplicationError)
            and cause.type == SecretMissing.type_name
            and workflow.patched(PATCH_UNSET_TARGET)
        )

    def _idempotency_key(self, step_id: str, runs: int) -> str:
        key = f"{self.incident.state.incident_id}:{step_id}"
        return f"{key}:{runs + 1}" if runs else key

    def _index_of(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.incident.runbook.steps) if s.id == step_id)

    async def _done_unless_ending(self, running: workflow.ActivityHandle[Any]) -> bool:
        """Wait for a step's activity; an abort or resolve cancels it at once (False)."""
        inc = self.incident
        await workflow.wait_condition(lambda: running.done() or inc.ending() is not None)
        if running.done():
            return True
        running.cancel()
        with contextlib.suppress(ActivityError, asyncio.CancelledError):
            await running
        return False

    def _mitigation_done(self, index: int) -> None:
        """Past the mitigate steps: the incident is mitigated (time to mitigate)."""
        inc = self.incident
        milestones = inc.state.milestones
        passed = inc.runbook.steps[:index]
        ran_mitigation = any(s.phase == "mitigate" for s in passed)
        if (
            ran_mitigation
            and not any(s.phase == "mitigate" and s.status == "succeeded" for s in inc.state.steps)
            and workflow.patched(PATCH_MITIGATION_RAN)
        ):
            # Every mitigate step was skipped (a condition, resolved alerts) or failed and
            # let go: nothing mitigated the incident (it counts as mitigated once resolved).
            return
        if milestones.mitigated is None and ran_mitigation and workflow.patched(PATCH_MITIGATED):
            milestones.mitigated = workflow.now()
            inc.since_update.append("mitigated")
            inc.tell("mitigated", detail="the mitigate steps are done")
            inc.set_status("mitigated")


def attempt_timeout(step: Step) -> timedelta:
    """The step's `timeout`, or for a long action, at least its own `timeout` and a grace."""
    own = HEARTBEATING.get(step.action)
    if own is None:
        return step.timeout
    given = step.with_.get("timeout")
    if isinstance(given, str) and "{" not in given:
        with contextlib.suppress(ValueError):
            own = parse_duration(given)
    return max(step.timeout, own + KILL_GRACE)


def attempts(err: ActivityError, retry: RetrySpec) -> int:
    """How many attempts a failed activity made: from the error details, else from the policy."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return retry.max_attempts
    return 1
