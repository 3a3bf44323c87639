"""What the scenarios of a runbook exercised: each step run, each branch taken (`when` true
and false, `on_failure`, compensation) and each approval outcome — and what none did."""

from __future__ import annotations

from dataclasses import dataclass, field

from warroom.language.runbook import Runbook
from warroom.rehearsal.runner import Rehearsal


@dataclass
class Coverage:
    runbook: str
    #: Every item the runbook offers ("step rollback", "rollback when false", ...) → how many
    #: scenarios exercised it.
    items: dict[str, int] = field(default_factory=dict)

    @property
    def missed(self) -> list[str]:
        return [item for item, n in self.items.items() if not n]


def coverage(runbook: Runbook, done: list[Rehearsal]) -> Coverage:
    cov = Coverage(runbook.name)
    for step in runbook.steps:
        items = [f"step {step.id} ran"]
        if step.when not in (None, True):
            items += [f"{step.id} when true", f"{step.id} when false"]
        if step.approval:
            items += [f"{step.id} approved", f"{step.id} rejected"]
            if step.approval.timeout:
                items.append(f"{step.id} approval timed out")
        if step.action not in ("wait", "note"):
            policy = step.on_failure if isinstance(step.on_failure, str) else "goto"
            items.append(f"{step.id} on_failure {policy}")
        if step.compensate:
            items.append(f"{step.id} compensated")
        for item in items:
            cov.items[item] = sum(item in exercised(runbook, r) for r in done)
    return cov


#: Timeline events of a step that come only after its `when` held: its approval gate opened,
#: its action started, or its note was written.
PAST_CONDITION = frozenset({"approval requested", "step started", "note"})


def exercised(runbook: Runbook, done: Rehearsal) -> set[str]:
    """The coverage items one rehearsal exercised."""
    seen: set[str] = set()
    called = {c.name for c in done.calls}
    # A `when` held when the step went past it, even if it never ran (rejected, timed out,
    # the incident closed while it waited).
    past_condition = {e.step for e in done.entries if e.event in PAST_CONDITION}
    failed_after_retries = {
        d.step for d in done.state.decisions if d.kind in ("retry", "skip") and not d.refused
    }
    for step, state in zip(runbook.steps, done.state.steps, strict=True):
        ran = bool(state.attempts) or step.id in called
        if ran:
            seen.add(f"step {step.id} ran")
        if step.when not in (None, True) and (ran or step.id in past_condition):
            seen.add(f"{step.id} when true")
        if state.status == "skipped" and state.decided_by == "condition":
            seen.add(f"{step.id} when false")
        if state.status == "rejected" or (state.decided_by or "").startswith("timeout"):
            outcome = "approval timed out" if state.decided_by == "timeout" else "rejected"
            seen.add(f"{step.id} {outcome}")
        elif step.approval and state.approved_by:
            seen.add(f"{step.id} approved")
        if state.status == "failed" or step.id in failed_after_retries:
            policy = step.on_failure if isinstance(step.on_failure, str) else "goto"
            seen.add(f"{step.id} on_failure {policy}")
        if f"compensate-{step.id}" in called:
            seen.add(f"{step.id} compensated")
    return seen
