"""Human decisions on an incident (approve, reject, retry, skip, abort, resolve, acknowledge,
assign, note, severity): checked against the incident's state and deadline, recorded, applied.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from warroom.contract.models import (
    DECISIONS_KEPT,
    Abort,
    Acknowledge,
    Assign,
    Decision,
    DecisionKind,
    DecisionRecord,
    HumanDecision,
    Resolve,
    SetSeverity,
    StepCommand,
    StepState,
    StepStatus,
)
from workflows.context import IncidentContext

Via = Literal["signal", "update"]


def approver_allowed(approvers: list[str], who: str) -> bool:
    return "*" in approvers or who in approvers


class Decisions:
    """Checks, records and applies the decisions people send to one incident run.

    Each decision comes as a signal (fire-and-forget, for the plain Temporal CLI) or as a
    validated update (the caller learns at once whether it applied). Both go through `problem`,
    which also enforces the decision's deadline with workflow time, so a decision that reaches
    the workflow after its sender gave up never applies.
    """

    def __init__(self, incident: IncidentContext) -> None:
        self.incident = incident

    def problem(self, kind: DecisionKind, decision: HumanDecision) -> str | None:
        """Why `decision` cannot apply now, or None when it can."""
        s = self.incident.state
        if decision.deadline is not None and workflow.now() > decision.deadline:
            return f"arrived after its deadline ({decision.deadline:%H:%M:%S} UTC)"
        if s.is_closed:
            return f"the incident is closed ({s.status})"
        if isinstance(decision, Decision):
            return self._approval_problem(kind, decision)
        if isinstance(decision, StepCommand):
            return self._command_problem(decision)
        if isinstance(decision, Acknowledge):
            acked = s.milestones.acknowledged
            if acked is not None:
                commander = s.roles.get("commander", "someone")
                return (
                    f"already acknowledged at {acked:%H:%M:%S} UTC ({commander} is commander): "
                    "use assign to hand over"
                )
        if isinstance(decision, SetSeverity) and decision.severity == s.severity:
            return f"the severity is already {decision.severity}"
        if isinstance(decision, Assign) and s.roles.get(decision.role) == decision.to:
            return f"{decision.to} is already {decision.role}"
        ending = self.incident.ending()
        if isinstance(decision, Abort | Resolve) and ending is not None:
            what = "an abort" if isinstance(ending, Abort) else "a resolve"
            return f"{what} by {ending.by} is already under way"
        return None

    def _approval_problem(self, kind: DecisionKind, decision: Decision) -> str | None:
        inc = self.incident
        state = inc.find_step(decision.step)
        if state is None:
            return self._no_such_step(decision.step)
        # Who may decide: the gate's approvers as declared (the state lists them without the
        # declarer, who may reject but never counts toward an approval).
        approvers = inc.input.approvers_of(decision.step)
        # `oncall:SCHEDULE` is whoever was on call when the gate opened (workflows/paging.py).
        approvers = [state.oncall_approvers.get(a) or a for a in approvers]
        if not approvers:
            return f"step {decision.step!r} needs no approval"
        if decision.step in inc.rejections:
            earlier = inc.rejections[decision.step]
            return f"step {decision.step!r} was already rejected by {earlier.by}"
        if inc.quorum(decision.step, state) and state.status != "awaiting_approval":
            names = ", ".join(d.by for d in inc.approvals[decision.step])
            return f"step {decision.step!r} was already approved by {names}"
        if not approver_allowed(approvers, decision.by):
            return (
                f"{decision.by} is not an approver of step {decision.step!r} "
                f"(approvers: {', '.join(state.approvers) or 'nobody but the declarer'})"
            )
        if state.status != "awaiting_approval":
            return f"step {decision.step!r} is not waiting for approval (it is {state.status})"
        if kind == "approve" and decision.by == inc.state.declared_by:
            return (
                f"{decision.by} declared the incident, and the declarer never counts toward "
                "an approval: ask another approver"
            )
        if kind == "approve" and any(
            d.by == decision.by for d in inc.approvals.get(decision.step, [])
        ):
            have = len(inc.approvals[decision.step])
            return (
                f"{decision.by} has already approved step {decision.step!r} "
                f"({have} of {state.min_approvals} distinct approvals)"
            )
        return None

    def _command_problem(self, command: StepCommand) -> str | None:
        inc = self.incident
        state = inc.find_step(command.step)
        if state is None:
            return self._no_such_step(command.step)
        if command.step in inc.commands:
            earlier_kind, earlier = inc.commands[command.step]
            return f"a {earlier_kind} of step {command.step!r} by {earlier.by} is already under way"
        if state.status != "failed":
            return f"step {command.step!r} has not failed (it is {state.status})"
        return None

    def _no_such_step(self, step_id: str) -> str:
        known = ", ".join(s.id for s in self.incident.state.steps)
        return f"no step {step_id!r} in this incident (steps: {known})"

    def refuse_if_invalid(self, kind: DecisionKind, decision: HumanDecision) -> None:
        """An update's validator: refuse a decision that cannot apply (nothing is recorded)."""
        problem = self.problem(kind, decision)
        if problem:
            raise ApplicationError(problem, type="warroom.DecisionRefused", non_retryable=True)

    def take(self, kind: DecisionKind, decision: HumanDecision, via: Via) -> None:
        """Apply a decision unless it has a problem; record it either way (the audit trail of
        who decided what, and why a plain signal changed nothing)."""
        inc = self.incident
        problem = self.problem(kind, decision)
        inc.state.decisions.append(
            DecisionRecord(
                kind=kind,
                by=decision.by,
                at=workflow.now(),
                via=via,
                step=getattr(decision, "step", None),
                comment=remark(decision),
                refused=problem,
            )
        )
        if len(inc.state.decisions) > DECISIONS_KEPT:
            del inc.state.decisions[0]
            inc.state.decisions_not_kept += 1
        if problem:
            workflow.logger.warning("refused %s %s by %s: %s", via, kind, decision.by, problem)
            if via == "signal":  # an update's caller was told; a signal's sender only sees this
                inc.tell(
                    f"{kind} refused",
                    step=getattr(decision, "step", None),
                    detail=problem,
                    actor=decision.by,
                )
            return
        inc.since_update.append(f"{kind} by {decision.by}")
        self._apply(kind, decision)

    def _apply(self, kind: DecisionKind, decision: HumanDecision) -> None:
        inc = self.incident
        s = inc.state
        if isinstance(decision, Decision):
            if kind == "reject":
                inc.rejections[decision.step] = decision
            else:
                inc.approvals.setdefault(decision.step, []).append(decision)
                inc.step(decision.step).approved_by.append(decision.by)
        elif isinstance(decision, StepCommand):
            inc.commands[decision.step] = (kind, decision)
        elif isinstance(decision, Abort):
            inc.abort = decision
        elif isinstance(decision, Resolve):
            inc.resolve = decision
        elif isinstance(decision, Acknowledge):
            s.milestones.acknowledged = workflow.now()
            s.roles.setdefault("commander", decision.by)
            inc.publish()
        elif isinstance(decision, Assign):
            s.roles[decision.role] = decision.to
            inc.publish()
        elif isinstance(decision, SetSeverity):
            s.severity = decision.severity
            inc.severity_changes += 1  # the cadence timer re-arms for the new severity now
            inc.publish()

    async def closed(self) -> None:
        """Until the incident has closed (an abort or resolve applied), or the run hands the
        decision over to the next one."""
        inc = self.incident
        await workflow.wait_condition(lambda: inc.state.is_closed or inc.handing_over())

    async def applied(
        self, step_id: str, waiting: StepStatus, *, short_of_quorum: bool = False
    ) -> StepState:
        """The step once the run loop has applied the decision (same workflow task), so the
        caller sees the outcome (running / rejected / skipped, decided_by), not the stale wait.
        An approval that leaves the quorum short answers at once, with who has approved so far."""
        inc = self.incident
        state = inc.step(step_id)
        await workflow.wait_condition(
            lambda: (
                state.status != waiting
                or inc.state.is_closed
                or inc.handing_over()
                or (short_of_quorum and not inc.quorum(step_id, state))
            )
        )
        return state


def remark(decision: HumanDecision) -> str | None:
    for field in ("comment", "reason", "text"):
        value = getattr(decision, field, None)
        if value:
            return str(value)
    if isinstance(decision, Assign):
        return f"{decision.role} → {decision.to}"
    if isinstance(decision, SetSeverity):
        return decision.severity
    return None
