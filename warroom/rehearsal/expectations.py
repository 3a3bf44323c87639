"""A scenario's `expect:` against what the rehearsal saw: one Mismatch per difference, each
saying what was expected and what happened instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from warroom.language.durations import format_duration
from warroom.rehearsal.fakes import AnswerBook
from warroom.rehearsal.scenario import Scenario

if TYPE_CHECKING:
    from warroom.rehearsal.runner import Rehearsal


@dataclass(frozen=True)
class Mismatch:
    what: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.what}: expected {self.expected}, got {self.got}"


def check(scenario: Scenario, done: Rehearsal, book: AnswerBook) -> list[Mismatch]:
    expect, state = scenario.expect, done.state
    out: list[Mismatch] = []
    if done.left_open:
        out.append(
            Mismatch(
                "status",
                expect.status or "the incident to close",
                f"still {done.left_open} at {format_duration(scenario.horizon())} "
                "(the rehearsal aborted it)",
            )
        )
    elif expect.status and state.status != expect.status:
        out.append(Mismatch("status", expect.status, f"{state.status} ({state.outcome})"))
    steps = {s.id: s for s in state.steps}
    for step_id, wanted in expect.steps.items():
        got = steps[step_id]
        if wanted.status and got.status != wanted.status:
            detail = f" ({got.error})" if got.error else ""
            out.append(Mismatch(f"step {step_id} status", wanted.status, got.status + detail))
        if wanted.attempts is not None and got.attempts != wanted.attempts:
            out.append(
                Mismatch(f"step {step_id} attempts", str(wanted.attempts), str(got.attempts))
            )
    if expect.updates is not None and state.updates_posted != expect.updates:
        out.append(
            Mismatch("status updates posted", str(expect.updates), str(state.updates_posted))
        )
    if expect.escalations is not None and len(state.escalations) != expect.escalations:
        out.append(Mismatch("escalations", str(expect.escalations), str(len(state.escalations))))
    m = state.milestones
    for name, limit, reached in (
        ("acknowledged", expect.acknowledged_within, m.acknowledged),
        ("mitigated", expect.mitigated_within, m.mitigated),
        ("resolved", expect.resolved_within, m.resolved),
    ):
        if limit is None:
            continue
        took = _since(m.declared, reached)
        if took is None or took > limit:
            when = "never" if took is None else f"after {format_duration(took)}"
            out.append(Mismatch(f"{name} within", format_duration(limit), when))
    for name in expect.not_run:
        if book.ran(name):
            first = next(c for c in book.calls if c.name == name)
            out.append(Mismatch(f"{name} not run", "no call", f"called at {first.at:%H:%M:%S}"))
    for d in done.delivered:
        if d.event is None:
            continue
        at = format_duration(d.at) if d.at else "0s"
        if d.event.refused and d.refused is None:
            out.append(Mismatch(f"{d.what} at {at}", "refused", "applied"))
        elif not d.event.refused and d.refused is not None:
            out.append(Mismatch(f"{d.what} at {at}", "applied", f"refused: {d.refused}"))
    return out


def _since(start: datetime | None, end: datetime | None) -> timedelta | None:
    return None if start is None or end is None else end - start
