"""The numbers incident reviews ask for, computed from the timeline alone: time to acknowledge,
mitigate and resolve, time waiting on people, status updates on cadence or late, alerts,
retries and failed steps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from pydantic import BaseModel

from warroom.language.durations import format_duration
from warroom.record.timeline import Story, TimelineEntry

#: How late a cadence update may go out before it counts as late (the post itself, retries).
UPDATE_GRACE = timedelta(minutes=1)
#: Statuses in which the incident waits on a person (an approval, a failed step's verdict).
WAITING = ("awaiting_approval", "paused")
#: The statuses an incident closes with.
CLOSED_STATUSES = ("resolved", "aborted")
_TARGET = re.compile(r"target #(\d+) \((\w[\w ]*)\)")


class UpdateSent(BaseModel):
    """One status update (posted to each of the runbook's update targets)."""

    at: datetime
    kind: str  # cadence | final
    posted: int
    failed: int
    #: When a cadence update was due (the previous update, or the declaration or the last
    #: severity change, plus the severity's cadence); None for a final one.
    due: datetime | None = None
    late: bool = False


class Metrics(BaseModel):
    """Durations in seconds; None while the milestone is not reached."""

    time_to_acknowledge: float | None = None
    time_to_mitigate: float | None = None
    time_to_resolve: float | None = None
    waiting_on_people: float = 0.0
    updates: list[UpdateSent] = []
    updates_sent: int = 0
    updates_late: int = 0
    updates_failed: int = 0
    alerts_received: int = 0
    retries: int = 0
    retried_by_hand: int = 0
    failed_steps: list[str] = []
    escalations: int = 0


def state_changes(entry: TimelineEntry) -> dict[str, str]:
    """`{"status": "paused", ...}` from a "state" entry ("status → paused, phase → mitigate")."""
    if entry.event != "state":
        return {}
    pairs = (part.partition(" → ") for part in entry.detail.split(", "))
    return {key: value for key, sep, value in pairs if sep}


class Closing(NamedTuple):
    status: str
    at: datetime
    #: Why, as the run's result says ("" while the run has not completed yet).
    outcome: str


def closing(entries: list[TimelineEntry]) -> Closing | None:
    """How and when the incident closed: where the workflow decided it (its status became
    resolved or aborted), which is before the run completes (the final status update and the
    postmortem draft come after); the run's end for incidents that never said so."""
    for e in entries:
        if e.event.startswith("closed: "):
            return Closing(e.event.removeprefix("closed: "), e.time, e.detail)
        status = state_changes(e).get("status")
        if status in CLOSED_STATUSES:
            ended = f"closed: {status}"
            outcome = next((x.detail for x in entries if x.event == ended), "")
            return Closing(status, e.time, outcome)
    return None


def metrics(
    entries: list[TimelineEntry],
    cadence: dict[str, timedelta] | None = None,
    severity: str = "",
    now: datetime | None = None,
) -> Metrics:
    """`cadence` and `severity` (the declared one) are the runbook's; `now` ends an open wait
    (by default the clock's time while the incident is open, its last entry once it ended)."""
    m = Metrics()
    if not entries:
        return m
    if now is None:
        now = entries[-1].time if ended(entries) else max(datetime.now(UTC), entries[-1].time)
    declared = entries[0].time
    first: dict[str, datetime] = {}
    for e in entries:
        first.setdefault(e.event, e.time)
    since = {e: (t - declared).total_seconds() for e, t in first.items()}
    m.time_to_acknowledge = since.get("acknowledged")
    closed = closing(entries)
    if closed is not None and closed.status == "resolved":
        m.time_to_resolve = (closed.at - declared).total_seconds()
    mitigated = [e.time for e in entries if "mitigated" in (e.event, *state_changes(e).values())]
    if mitigated:
        m.time_to_mitigate = (mitigated[0] - declared).total_seconds()
    elif m.time_to_resolve is not None:
        m.time_to_mitigate = m.time_to_resolve  # resolved without a mitigate step
    m.waiting_on_people = _waiting(entries, now)
    m.updates = _updates(entries, cadence or {}, severity)
    m.updates_sent = sum(1 for u in m.updates if u.posted)
    m.updates_late = sum(1 for u in m.updates if u.late)
    m.updates_failed = sum(u.failed for u in m.updates)
    # Each alert notification, as the workflow counts them (not the declaration it opened).
    m.alerts_received = sum(1 for e in entries if e.source == "alert" and e.event != "declared")
    m.retried_by_hand = sum(1 for e in entries if e.event == "retried")
    m.retries = m.retried_by_hand + sum(
        (e.attempt or 1) - 1 for e in entries if e.event.startswith("step ") and e.step
    )
    m.failed_steps = failed_steps(entries)
    m.escalations = sum(1 for e in entries if e.event == "escalation sent") + len(
        {(e.time, _level(e.detail)) for e in entries if e.event == "paged"}
    )
    return m


#: A page's detail starts with its level ("level 1: carol by webhook …"); the people of one
#: level are paged at one time, so (time, level) counts each level reached once.
_LEVEL = re.compile(r"level \d+")


def _level(detail: str | None) -> str:
    found = _LEVEL.match(detail or "")
    return found.group(0) if found else ""


_FAILED = ("step failed", "step timed out")
#: Events that end a step well after it failed: a retry (by hand) that succeeded, or the
#: workflow's own skip of a notification with nowhere to go ("skipped (secret unset)").
_RECOVERED = ("step succeeded", "skipped (secret unset)")
#: Entries of a run that the server ended (the workflow did not close it itself).
_ENDED_BY_SERVER = ("terminated", "failed")


def ended(entries: list[TimelineEntry]) -> bool:
    """Whether the incident has ended: closed, or ended by the server."""
    return closing(entries) is not None or any(e.event in _ENDED_BY_SERVER for e in entries)


def failed_steps(entries: list[TimelineEntry]) -> list[str]:
    """The steps whose last outcome is a failure: one that failed and then succeeded (retried
    by hand) is not among them; one that a person skipped after it failed is."""
    failed: dict[str, None] = {}
    for e in entries:
        if e.step is None:
            continue
        if e.event in _FAILED:
            failed.setdefault(e.step, None)
        elif e.event in _RECOVERED:
            failed.pop(e.step, None)
    return list(failed)


def _waiting(entries: list[TimelineEntry], now: datetime) -> float:
    """Seconds spent in a waiting status, the open wait counted up to `now`."""
    total, since = 0.0, None
    for e in entries:
        status = state_changes(e).get("status")
        if e.event.startswith(("closed", "terminated")):
            status = "closed"
        if status is None:
            continue
        if since is not None:
            total += (e.time - since).total_seconds()
            since = None
        if status in WAITING:
            since = e.time
    if since is not None:
        total += max(0.0, (now - since).total_seconds())
    return total


def _updates(
    entries: list[TimelineEntry], cadence: dict[str, timedelta], severity: str
) -> list[UpdateSent]:
    """Each status update (its posts grouped), and whether a cadence one went out on time."""
    updates: list[UpdateSent] = []
    reference, current = entries[0].time, severity
    for e in entries:
        if e.event == "severity changed" and e.detail:
            reference, current = e.time, e.detail  # the cadence timer re-arms at once
            continue
        match = _TARGET.search(e.detail) if e.event.startswith("status update ") else None
        if match is None:
            continue
        posted = e.event == "status update posted"
        if match.group(1) == "1" or not updates:
            due = None
            if match.group(2) == "cadence" and current in cadence:
                due = reference + cadence[current]
            late = due is not None and e.time > due + UPDATE_GRACE
            updates.append(UpdateSent(at=e.time, kind=match.group(2), posted=0, failed=0))
            updates[-1].due, updates[-1].late = due, late
            reference = e.time
        updates[-1].posted += posted
        updates[-1].failed += not posted
    return updates


def of_story(told: Story, now: datetime | None = None) -> Metrics:
    """The metrics of an incident read from its history."""
    runbook = told.declared.runbook
    severity = told.declared.severity or runbook.severity
    cadence: dict[str, timedelta] = {str(k): v for k, v in runbook.cadence.items()}
    return metrics(told.entries, cadence, severity, now)


def duration_text(seconds: float | None) -> str:
    """Whole seconds as people read them ("1h2m5s"), or "-" when not reached."""
    if seconds is None:
        return "-"
    return format_duration(timedelta(seconds=max(0, int(seconds))))
