"""Where an incident waits for people: approval gates (a quorum of distinct approvers), failed
steps waiting for retry or skip, and closing on request with compensation of completed steps.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from warroom.contract.models import (
    Abort,
    ActionInput,
    DecisionKind,
    EscalationProgress,
    StepState,
)
from warroom.language.durations import format_duration
from warroom.language.runbook import Approval, Step
from workflows.cadence import Cadence
from workflows.context import IncidentContext, failure_message, retry_policy
from workflows.paging import resolve_oncall_approvers


def who_may_approve(state: StepState) -> str:
    """The gate's approvers as people read them (the state lists them without the declarer)."""
    if state.approvers == ["*"]:
        return "anyone but the declarer"
    return ", ".join(state.approvers) or "nobody (only the declarer is listed, who never counts)"


class Gates:
    """Approval gates, paused steps, and the end of an incident asked for by a person."""

    def __init__(self, incident: IncidentContext, cadence: Cadence) -> None:
        self.incident = incident
        self.cadence = cadence

    async def gate(self, step: Step, approval: Approval, state: StepState) -> str:
        """Wait for the step's quorum: "approved", "skip" (mitigation skipped), or "closed"."""
        inc = self.incident
        await resolve_oncall_approvers(inc, state)
        # Asked by a run before this one (it continued as new): not asked again, the timeout
        # runs from then, an escalation goes on (PATCH_APPROVAL_CARRIED).
        asked_before = inc.approvals_carried and state.asked_at is not None
        state.status = "awaiting_approval"
        inc.set_status("awaiting_approval")
        if not asked_before:
            if inc.approvals_carried:
                state.asked_at = workflow.now()
            within = f", within {format_duration(approval.timeout)}" if approval.timeout else ""
            inc.tell(
                "approval requested",
                step=step.id,
                detail=f"{approval.min_approvals} of {who_may_approve(state)}{within}",
            )

        def chosen() -> bool:
            return (
                inc.quorum(step.id, state)
                or step.id in inc.rejections
                or inc.ending() is not None
                or (inc.skip_mitigation and step.phase == "mitigate")
            )

        def decided() -> bool:
            return chosen() or inc.long()

        try:
            await self._until_decided(approval, state, decided)
        except TimeoutError:
            waited = format_duration(approval.timeout or timedelta())
            why = f"approval of {step.id} timed out after {waited}"
            if approval.on_timeout == "reject":
                state.status, state.decided_by = "rejected", "timeout"
                inc.tell("approval timed out", step=step.id, detail=f"{why}: rejected")
                await self.compensate()
                inc.close("aborted", why)
                return "closed"
            if approval.on_timeout == "approve":
                inc.record("approved (timeout)", step=step.id, detail=why)
                state.decided_by = "timeout"
                return "approved"
            if state.escalation is None:  # else timed out in a run before, escalating since
                inc.record("approval timed out", step=step.id, detail=f"{why}: escalating")
                if inc.approvals_carried:
                    state.escalation = EscalationProgress(due=workflow.now())
            self.cadence.escalate_in_background(why, decided, state.escalation)
            await workflow.wait_condition(decided)
        inc.continue_unless(chosen())
        state.escalation = None  # decided: no escalation goes on for it
        if inc.ending():
            state.status = "pending"  # never decided: a closed incident waits for nobody
            await self.end()
            return "closed"
        if inc.skip_mitigation and step.phase == "mitigate" and not inc.quorum(step.id, state):
            inc.finish_step(state, "skipped", decided_by="alerts resolved")
            inc.record("skipped (alerts resolved)", step=step.id)
            inc.set_status(inc.open_status())
            return "skip"
        if step.id in inc.rejections:
            decision = inc.rejections[step.id]
            state.decided_by, state.comment = decision.by, decision.comment or None
            state.status, state.finished_at = "rejected", workflow.now()
            reason = f": {decision.comment}" if decision.comment else ""
            await self.compensate()
            inc.close("aborted", f"{step.id} rejected by {decision.by}{reason}")
            return "closed"
        approvals = inc.approvals.get(step.id, [])
        state.decided_by = ", ".join(d.by for d in approvals) or state.decided_by
        state.comment = "; ".join(d.comment for d in approvals if d.comment) or None
        return "approved"

    async def _until_decided(
        self, approval: Approval, state: StepState, decided: Callable[[], bool]
    ) -> None:
        """Wait for `decided` within the approval's timeout (TimeoutError after it): from when
        it was first asked (a run before may have asked), or already over when it timed out in
        a run before."""
        timeout = approval.timeout
        if timeout is not None and state.asked_at is not None and self.incident.approvals_carried:
            if state.escalation is not None:
                timeout = timedelta(0)  # it timed out in a run before
            else:
                timeout = state.asked_at + timeout - workflow.now()
            if timeout <= timedelta(0):
                if decided():
                    return
                raise TimeoutError
        await workflow.wait_condition(
            decided, timeout=timeout, timeout_summary=f"approval: {state.id}"
        )

    async def await_command(self, step: Step) -> DecisionKind | None:
        """A step failed after its retries: wait for retry, skip, or the end (None)."""
        inc = self.incident
        inc.set_status("paused")

        def commanded() -> bool:
            return step.id in inc.commands or inc.ending() is not None

        def answered() -> bool:
            return commanded() or inc.long()

        state = inc.step(step.id)
        if inc.runbook.escalation and not answered():
            if inc.approvals_carried and state.escalation is None:
                state.escalation = EscalationProgress(due=workflow.now())
            self.cadence.escalate_in_background(
                f"step {step.id} failed and waits for a person", answered, state.escalation
            )
        await workflow.wait_condition(answered)
        inc.continue_unless(commanded())
        state.escalation = None  # answered: no escalation goes on for it
        if inc.ending():
            return None
        kind, command = inc.commands.pop(step.id)
        inc.step(step.id).decided_by = command.by
        inc.set_status(inc.open_status())
        return kind

    async def end(self) -> None:
        """Close the incident the way a person asked: resolve, or abort (after undoing the
        completed steps that say how)."""
        inc = self.incident
        if inc.resolve is not None:
            comment = f": {inc.resolve.comment}" if inc.resolve.comment else ""
            inc.close("resolved", f"resolved by {inc.resolve.by}{comment}")
            return
        abort = inc.abort or Abort(by="unknown")
        reason = f": {abort.reason}" if abort.reason else ""
        await self.compensate()
        inc.close("aborted", f"aborted by {abort.by}{reason}")

    async def compensate(self) -> None:
        """Undo completed steps that say how (`compensate`), newest first, before aborting."""
        inc = self.incident
        for step in reversed(inc.runbook.steps):
            undo, state = step.compensate, inc.step(step.id)
            if undo is None or state.status != "succeeded":
                continue
            try:
                inc.in_flight += 1
                await workflow.execute_activity(
                    undo.action,
                    ActionInput(
                        incident_id=inc.state.incident_id,
                        step=f"compensate-{step.id}",
                        params=undo.with_,
                        context=inc.inputs_for(undo),
                        idempotency_key=f"{inc.state.incident_id}:compensate:{step.id}",
                    ),
                    result_type=dict,
                    start_to_close_timeout=step.timeout,
                    retry_policy=retry_policy(step.retry),
                    summary=f"compensate {step.id}",
                )
                state.status = "compensated"
                inc.record("compensated", step=step.id, detail=undo.action)
            except ActivityError as err:
                # Undoing is best effort: say it failed and go on with the others.
                inc.record("compensation failed", step=step.id, detail=failure_message(err))
            finally:
                inc.in_flight -= 1
