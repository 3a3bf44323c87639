"""The CLI's text for people: incident status, incident lists, decision answers, and the
record's timeline (`warroom.record.plain_text`) in colour on a terminal.

Every text value that came from a person or a remote peer goes through `escape` (as `esc`), so
no escape sequence or line break reaches the terminal and no row can be forged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from warroom.contract.models import (
    Acknowledge,
    Assign,
    HumanDecision,
    IncidentState,
    Milestones,
    Note,
    SetSeverity,
    StepState,
)
from warroom.incidents.views import IncidentSummary
from warroom.language.durations import format_duration
from warroom.record import plain_text
from warroom.record.plain_text import clock, table
from warroom.record.timeline import TimelineEntry
from warroom.text import escape as esc

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


#: How many alerts, notes and refused decisions `show` lists (the rest: `show --json`); an
#: alert storm joins hundreds of alerts to one incident.
ALERTS_SHOWN = 10
NOTES_SHOWN = 5
REFUSALS_SHOWN = 5
#: The milestones after "declared", in the order an incident reaches them, and what the time
#: to reach each is called (time to acknowledge, ...).
MILESTONES = {"acknowledged": "acknowledge", "mitigated": "mitigate", "resolved": "resolve"}


def _since(start: datetime | None, end: datetime | None) -> str:
    """Whole seconds from `start` to `end` ("2m5s"), or "-" when either is unknown."""
    if start is None or end is None:
        return "-"
    return format_duration(timedelta(seconds=max(0, int((end - start).total_seconds()))))


def time_to(milestones: Milestones) -> dict[str, str]:
    """Time from declared to each later milestone: {"acknowledged": "19s", "mitigated": "-", ...}."""
    return {m: _since(milestones.declared, getattr(milestones, m)) for m in MILESTONES}


def approvals(step: StepState) -> str:
    """`1/2 approvals: alice` — a gate's quorum so far."""
    names = f": {esc(', '.join(step.approved_by))}" if step.approved_by else ""
    return f"{len(step.approved_by)}/{step.min_approvals} approvals{names}"


def step_line(step: StepState) -> str:
    """`rollback: succeeded, 2 attempts, decided by dana` — one line per step state."""
    return f"{esc(step.id)}: {step_status(step)}"


def step_status(step: StepState) -> str:
    text = step.status.replace("_", " ")
    if step.status == "running" and step.started_at:
        text += f" since {clock(step.started_at)} UTC"
    if step.status == "awaiting_approval":
        text += f" (approvers: {esc(', '.join(step.approvers))})"
        if step.min_approvals > 1 or step.approved_by:
            text += f", {approvals(step)}"
    if step.attempts:
        text += f", {step.attempts} attempt{'s' if step.attempts != 1 else ''}"
    if step.decided_by and step.status != "awaiting_approval":
        text += f", decided by {esc(step.decided_by)}"
    if step.error:
        text += f" — {'last error: ' if step.status == 'running' else ''}{esc(step.error)}"
    return text


def encryption_line(run_keys: list[str | None]) -> str:
    """Which of the incident's runs Temporal stores encrypted (`warroom.contract.codec`)."""
    if not any(run_keys):
        return "  payloads: plain (not encrypted)"
    said = [f"run {n}: {f'key {k}' if k else 'plain'}" for n, k in enumerate(run_keys, 1)]
    if len(set(run_keys)) == 1:
        return f"  payloads: encrypted with key {run_keys[0]}"
    return "  payloads: encrypted, " + ", ".join(said)


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
        *_lifecycle_lines(state),
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
    lines += _decision_lines(state)
    return "\n".join(lines)


def _lifecycle_lines(state: IncidentState) -> list[str]:
    """Milestones with the times to reach them, roles, joined alerts, escalations."""
    ms = state.milestones
    reached = ", ".join(f"{m} {clock(getattr(ms, m))}" for m in MILESTONES)
    took = ", ".join(f"{MILESTONES[m]} {t}" for m, t in time_to(ms).items())
    roles = ", ".join(f"{esc(role)} {esc(who)}" for role, who in sorted(state.roles.items()))
    lines = [
        f"  milestones: {reached}",
        f"  time to:  {took}",
        f"  roles:    {roles or 'none yet (warroom ack ID --by NAME makes you commander)'}",
    ]
    if state.alerts or state.alerts_received:
        firing, total = state.alerts_firing, state.alerts_total
        lines.append(
            f"  alerts:   {total} ({firing} firing, {total - firing} resolved"
            f"{f', {state.alerts_summarised} summarised' if state.alerts_summarised else ''}); "
            f"{state.alerts_received} notifications, {state.alerts_duplicate} duplicate"
        )
        latest = sorted(state.alerts, key=lambda a: a.last_seen, reverse=True)
        for alert in latest[:ALERTS_SHOWN]:
            name = alert.labels.get("alertname", "")
            lines.append(
                f"    {alert.status:<8} {esc(alert.fingerprint)} {esc(name)}".rstrip()
                + f"  {alert.notifications}x, first {clock(alert.first_seen)},"
                f" last {clock(alert.last_seen)}"
            )
        if len(latest) > ALERTS_SHOWN:
            lines.append(f"    … and {len(latest) - ALERTS_SHOWN} more (warroom show ID --json)")
    for sent in state.escalations:
        lost = "" if sent.delivered else " (not delivered)"
        lines.append(
            f"  escalated: level {sent.level} at {clock(sent.at)} UTC: {esc(sent.reason)}{lost}"
        )
    return lines


def _decision_lines(state: IncidentState) -> list[str]:
    """The latest notes, and the latest refused decisions with the workflow's reason."""
    lines: list[str] = []
    notes = [d for d in state.decisions if d.kind == "note" and not d.refused]
    for note in notes[-NOTES_SHOWN:]:
        lines.append(f"  note {clock(note.at)} {esc(note.by)}: {esc(note.comment or '')}")
    refused = [d for d in state.decisions if d.refused]
    for d in refused[-REFUSALS_SHOWN:]:
        what = f"{d.kind} {d.step}" if d.step else d.kind
        lines.append(
            f"  refused {clock(d.at)} {esc(what)} by {esc(d.by)} ({d.via}): {esc(d.refused)}"
        )
    return lines


def decision_answer(
    incident_id: str, decision: HumanDecision, answer: StepState | IncidentState
) -> str:
    """The one line a human decision answers with, once applied."""
    inc = esc(incident_id)
    if isinstance(answer, StepState):
        return f"{inc} {step_line(answer)}"
    by = esc(decision.by)
    if isinstance(decision, Acknowledge):
        commander = answer.roles.get("commander")
        role = "commander" if commander == decision.by else f"commander: {esc(commander)}"
        return f"{inc}: acknowledged by {by} ({role})"
    if isinstance(decision, Assign):
        return f"{inc}: {esc(decision.to)} is now {decision.role} (assigned by {by})"
    if isinstance(decision, Note):
        return f"{inc}: note added by {by}"
    if isinstance(decision, SetSeverity):
        return f"{inc}: severity is now {esc(answer.severity)} (set by {by})"
    outcome = f" — {esc(answer.outcome)}" if answer.outcome else ""
    return f"{inc}: {esc(answer.status)}{outcome}"


def list_text(incidents: list[IncidentSummary]) -> str:
    if not incidents:
        return "no incidents"
    rows = [("INCIDENT", "STATUS", "SEV", "PHASE", "RUNBOOK", "COMMANDER", "STARTED (UTC)")]
    for inc in incidents:
        started = inc.started_at.strftime("%Y-%m-%d %H:%M:%S") if inc.started_at else "-"
        row = (inc.incident_id, inc.status, inc.severity, inc.phase, inc.runbook)
        rows.append((*row, inc.commander or "-", started))
    return table(rows)


#: ANSI colours of timeline rows on a terminal: what people did, failures, alerts.
_COLOURS = {"person": "\x1b[36m", "failure": "\x1b[31m", "alert": "\x1b[33m"}
_RESET = "\x1b[0m"


def timeline_text(entries: list[TimelineEntry], colour: bool = False) -> str:
    """The record's plain timeline text; with `colour` (a TTY only), people's rows, failures
    and alerts stand out."""
    text = plain_text.timeline_text(entries)
    if not colour:
        return text
    lines = text.split("\n")
    for i, e in enumerate(entries, start=1):
        tone = "failure" if "failed" in e.event or "refused" in e.event else e.source
        if tone in _COLOURS:
            lines[i] = f"{_COLOURS[tone]}{lines[i]}{_RESET}"
    return "\n".join(lines)
