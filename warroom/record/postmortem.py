"""The blameless postmortem draft of an incident, in Markdown, from its history alone.

It states only what the history holds; what went well, what went wrong and the root cause
are prompts for the people who finish it, with the failing steps' errors quoted as evidence.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import groupby

from warroom.record.metrics import Metrics, closing, duration_text, of_story
from warroom.record.timeline import Story, TimelineEntry
from warroom.text import escape

#: The events that are decisions people took (approvals above all), and refused ones.
DECISIONS = (
    "approved",
    "approved (timeout)",
    "approval timed out",
    "rejected",
    "retried",
    "skipped",
    "aborted",
    "resolved",
)
FAILURES = ("step failed", "step timed out", "compensation failed", "status update failed")
#: A storm in the draft's timeline: a run of more alert entries than this in a row shows its
#: first and last ALERT_ROWS_KEPT, and one row that counts the rest (the audited timeline,
#: `warroom timeline`, keeps every one).
ALERT_ROWS = 12
ALERT_ROWS_KEPT = 5


def cell(text: object) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return escape(text).replace("|", "\\|")


def at(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def timeline_markdown(entries: list[TimelineEntry]) -> str:
    rows = [
        "| Time (UTC) | +elapsed | Who | Event | Step | Phase | Detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        who = f"{e.actor} ({e.source})" if e.actor else e.source
        rows.append(
            f"| {e.time:%H:%M:%S} | +{duration_text(e.elapsed)} | {cell(who)} | {cell(e.event)} "
            f"| {cell(e.step or '')} | {cell(e.phase or '')} | {cell(e.detail)} |"
        )
    return "\n".join(rows)


def _is_alert(entry: TimelineEntry) -> bool:
    return entry.source == "alert" and entry.event.startswith("alert ")


def condensed(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """The entries with every run of more than ALERT_ROWS alert entries in a row cut to its
    first and last ALERT_ROWS_KEPT around one entry that counts what was left out, by event."""
    out: list[TimelineEntry] = []
    for alerts, group in groupby(entries, key=_is_alert):
        run = list(group)
        if not alerts or len(run) <= ALERT_ROWS:
            out.extend(run)
            continue
        left_out = run[ALERT_ROWS_KEPT:-ALERT_ROWS_KEPT]
        counts = Counter(e.event for e in left_out)
        counted = left_out[0].model_copy(
            update={
                "event": f"{len(left_out):,} more alert entries",
                "detail": ", ".join(f"{n:,} {event}" for event, n in counts.items())
                + f", until {left_out[-1].time:%H:%M:%S} (every one: `warroom timeline`)",
                "actor": None,
            }
        )
        out += [*run[:ALERT_ROWS_KEPT], counted, *run[-ALERT_ROWS_KEPT:]]
    return out


def metrics_markdown(m: Metrics) -> str:
    late = f", {m.updates_late} late" if m.updates_late else ", none late"
    lines = [
        f"- Time to acknowledge: {duration_text(m.time_to_acknowledge)}",
        f"- Time to mitigate: {duration_text(m.time_to_mitigate)}",
        f"- Time to resolve: {duration_text(m.time_to_resolve)}",
        f"- Time waiting on people (approvals, paused steps): {duration_text(m.waiting_on_people)}",
        f"- Status updates sent: {m.updates_sent}{late}; posts failed: {m.updates_failed}",
        f"- Alerts received: {m.alerts_received}",
        f"- Escalations: {m.escalations}",
        f"- Retries: {m.retries} ({m.retried_by_hand} by hand)",
        f"- Failed steps: {', '.join(escape(s) for s in m.failed_steps) or 'none'}",
    ]
    for u in m.updates:
        if u.late and u.due:
            lines.append(f"  - late update at {u.at:%H:%M:%S} UTC, due {u.due:%H:%M:%S} UTC")
    return "\n".join(lines)


def paged_lines(entries: list[TimelineEntry]) -> list[str]:
    """Who was engaged by paging (an on-call policy): one line, each page as the timeline
    says it (who, how, level, which schedule or override)."""
    pages = [escape(e.detail) for e in entries if e.event == "paged"]
    return [f"- Paged: {'; '.join(pages)}"] if pages else []


def postmortem(told: Story, now: datetime | None = None) -> str:
    """The draft, every section present; nothing in it that the history does not say."""
    entries, inp = told.entries, told.declared
    m = of_story(told, now)
    rb = inp.runbook
    closed = closing(entries)
    severities = [inp.severity or rb.severity] + [
        e.detail for e in entries if e.event == "severity changed"
    ]
    end = closed.at if closed else (now or entries[-1].time)
    people = [e for e in entries if e.source == "person"]
    automated = [e for e in entries if e.source == "automation" and e.event != "state"]
    decisions = [e for e in entries if e.event in DECISIONS or e.event.endswith("refused")]
    failures = [e for e in entries if e.event in FAILURES]
    out = [
        f"# Postmortem: {escape(rb.title)} ({escape(told.incident_id)})",
        "",
        "_Draft written from the incident's workflow history. Blameless: it describes what "
        "happened and what the system let people do, not who is at fault. Replace every "
        "prompt in italics._",
        "",
        "## Summary",
        "",
        f"{escape(inp.summary)}. Declared {at(entries[0].time)} by {escape(inp.declared_by)} "
        f"with runbook `{escape(rb.name)}`; "
        + (
            f"{escape(closed.status)} {at(closed.at)}"
            + (f" ({escape(closed.outcome)})." if closed.outcome else ".")
            if closed
            else "still open."
        ),
        "",
        "## Impact",
        "",
        f"- Severity: {' → '.join(escape(s) for s in severities)}",
        f"- Duration: {duration_text((end - entries[0].time).total_seconds())}"
        + ("" if closed else " so far"),
        f"- Service: {escape(rb.service_name)}",
        f"- Alerts: {m.alerts_received}",
        "- _Who and what was affected, and how badly (customers, orders, revenue)?_",
        "",
        "## Metrics",
        "",
        metrics_markdown(m),
        "",
        "## What the runbook automated and what people did",
        "",
        f"- Automated: {len(automated)} events "
        f"({sum(1 for e in automated if e.event == 'step succeeded')} steps succeeded, "
        f"{len(failures)} failures, {m.updates_sent} status updates, {m.escalations} escalations)",
        f"- People: {len(people)} actions by "
        f"{', '.join(sorted({escape(e.actor) for e in people if e.actor})) or 'nobody'}",
        *paged_lines(entries),
        "",
        "## Decisions",
        "",
    ]
    if decisions:
        out += ["| When (UTC) | Who | Decision | Step | Comment |", "|---|---|---|---|---|"]
        out += [
            f"| {e.time:%H:%M:%S} | {cell(e.actor or e.source)} | {cell(e.event)} "
            f"| {cell(e.step or '')} | {cell(e.detail)} |"
            for e in decisions
        ]
    else:
        out.append("No decisions were recorded.")
    out += [
        "",
        "## What went well",
        "",
        "- _What helped: detection, the runbook, the people, the tools?_",
        "",
        "## What went wrong",
        "",
        "- _What hindered or slowed the response?_",
        *(
            f"- _Step {escape(s)} failed: why, and could it have been foreseen?_"
            for s in m.failed_steps
        ),
        *(["- _Some status updates went out late: why?_"] if m.updates_late else []),
        "",
        "## Root cause",
        "",
        "_For the people who investigated to write; the history cannot know it._",
        "",
    ]
    if failures:
        out.append("Evidence from the history (the failures, quoted):")
        out.append("")
        out += [
            f"- {e.time:%H:%M:%S} {escape(e.event)} {escape(e.step or '')}: "
            f"`{escape(e.error or e.detail).replace('`', chr(39))}`"
            for e in failures
        ]
    else:
        out.append("No step failed.")
    out += [
        "",
        "## Action items",
        "",
        "| Action | Owner | Due date |",
        "|---|---|---|",
        "| _…_ | | |",
        "",
        "## Timeline",
        "",
        timeline_markdown(condensed(entries)),
        "",
    ]
    return "\n".join(out)
