"""Plain-text renderings for people: incident status, incident lists, timelines, progress lines.

Every text value that came from a person or a remote peer goes through `escape` (as `esc`), so
no escape sequence or line break reaches the terminal and no row can be forged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from warroom.incidents import IncidentSummary
from warroom.models import IncidentState, StepState
from warroom.terminal import escape as esc
from warroom.timeline import TimelineEntry

MARKS = {
    "pending": "·",
    "awaiting_approval": "?",
    "running": ">",
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "-",
    "rejected": "✗",
    "cancelled": "✗",
}


def clock(at: datetime | None) -> str:
    return at.strftime("%H:%M:%S") if at else "-"


def step_line(step: StepState) -> str:
    """`rollback: succeeded, 2 attempts, decided by dana` — one line per step state."""
    return f"{esc(step.id)}: {step_status(step)}"


def step_status(step: StepState) -> str:
    text = step.status.replace("_", " ")
    if step.status == "running" and step.started_at:
        text += f" since {clock(step.started_at)} UTC"
    if step.status == "awaiting_approval":
        text += f" (approvers: {esc(', '.join(step.approvers))})"
    if step.attempts:
        text += f", {step.attempts} attempt{'s' if step.attempts != 1 else ''}"
    if step.decided_by and step.status != "awaiting_approval":
        text += f", decided by {esc(step.decided_by)}"
    if step.error:
        text += f" — {'last error: ' if step.status == 'running' else ''}{esc(step.error)}"
    return text


def incident_text(state: IncidentState) -> str:
    inc = esc(state.incident_id)
    lines = [
        f"{inc}  {esc(state.title)}",
        f"  status:   {esc(state.status.replace('_', ' '))}"
        + (f" — {esc(state.outcome)}" if state.outcome else ""),
        f"  severity: {esc(state.severity)}   phase: {esc(state.phase)}   service: {esc(state.service)}"
        f"   runbook: {esc(state.runbook)}",
        f"  declared: {clock(state.started_at)} UTC by {esc(state.declared_by)}: {esc(state.summary)}",
        f"  updates:  {state.updates_posted} posted, {state.updates_failed} failed",
        "  steps:",
    ]
    width = max(len(esc(s.id)) for s in state.steps)
    for step in state.steps:
        mark = MARKS.get(step.status, " ")
        lines.append(f"    {mark} {esc(step.id):<{width}}  {step.phase:<11} {step_status(step)}")
    for step in state.pending_approvals:
        lines.append(f"  waiting for approval: warroom approve {inc} {esc(step.id)} --by NAME")
    for step in state.steps:
        if step.status == "failed" and state.status == "paused":
            lines.append(
                f"  paused on {esc(step.id)}: warroom retry|skip {inc} {esc(step.id)} --by NAME"
            )
    return "\n".join(lines)


def list_text(incidents: list[IncidentSummary]) -> str:
    if not incidents:
        return "no incidents"
    rows = [("INCIDENT", "STATUS", "SEV", "PHASE", "RUNBOOK", "STARTED (UTC)")]
    for inc in incidents:
        started = inc.started_at.strftime("%Y-%m-%d %H:%M:%S") if inc.started_at else "-"
        rows.append((inc.incident_id, inc.status, inc.severity, inc.phase, inc.runbook, started))
    return _table(rows)


def timeline_text(entries: list[TimelineEntry]) -> str:
    rows = [("TIME (UTC)", "EVENT", "STEP", "ACTOR", "DETAIL")]
    for e in entries:
        rows.append((clock(e.time), e.event, e.step or "", e.actor or "", e.detail))
    return _table(rows)


def _table(raw: Sequence[tuple[str, ...]]) -> str:
    rows = [tuple(esc(cell) for cell in row) for row in raw]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ).rstrip()
