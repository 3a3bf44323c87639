"""Across incidents: counts by severity, runbook and service; median and p90 time to
acknowledge, mitigate and resolve; the steps that fail most; the runbooks that most often
needed a person. Closed incidents in the archive are counted there with SQL aggregates; the
others (open, not archived yet, or no archive) are read from their histories, as their
timelines are. An incident in both counts once (the archive's copy)."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy.exc
from pydantic import BaseModel
from temporalio.client import Client

from warroom.archive.store import Archive, Totals, configured
from warroom.errors import IncidentNotFound
from warroom.record.archived import unreadable
from warroom.record.metrics import Metrics, of_story
from warroom.record.timeline import Story, story

#: How many histories are read at once.
READ_AT_ONCE = 8
MILESTONES = ("acknowledge", "mitigate", "resolve")


class Spread(BaseModel):
    """Seconds; None when no incident reached the milestone."""

    incidents: int = 0
    median: float | None = None
    p90: float | None = None


class Report(BaseModel):
    since: datetime
    incidents: int
    by_severity: dict[str, int]
    by_runbook: dict[str, int]
    by_service: dict[str, int]
    time_to: dict[str, Spread]
    #: "runbook/step": how many incidents it failed in, most first.
    failing_steps: dict[str, int]
    #: runbook: how many of its incidents waited on a person or needed one to retry or skip.
    needed_a_person: dict[str, int]


#: The k-th smallest value (1 = the smallest) of n.
Ranked = Callable[[int], float]


def spread(values: list[float]) -> Spread:
    ordered = sorted(values)
    return spread_of(len(ordered), lambda k: ordered[k - 1])


def spread_of(n: int, kth: Ranked) -> Spread:
    """Median and nearest-rank p90 of n values, reading only the ranks they need."""
    if n == 0:
        return Spread()
    middle = [kth((n + 1) // 2)] if n % 2 else [kth(n // 2), kth(n // 2 + 1)]
    p90 = kth(min(n, max(1, -(-n * 9 // 10))))  # nearest rank
    return Spread(incidents=n, median=statistics.median(middle), p90=p90)


def needed_a_person(told: Story, m: Metrics) -> bool:
    """It waited on a person, or one retried or skipped a step by hand."""
    return bool(
        m.waiting_on_people
        or m.retried_by_hand
        or any(e.event in ("skipped", "retried") for e in told.entries)
    )


def report(
    stories: list[tuple[Story, Metrics]],
    since: datetime,
    archived: tuple[Archive, Totals] | None = None,
) -> Report:
    """The report over these stories, plus the archive's totals since `since` if given."""
    totals = archived[1] if archived else None
    severity: Counter[str] = Counter(totals.by_severity if totals else {})
    runbook: Counter[str] = Counter(totals.by_runbook if totals else {})
    service: Counter[str] = Counter(totals.by_service if totals else {})
    failing: Counter[str] = Counter(totals.failing_steps if totals else {})
    needed: Counter[str] = Counter(totals.needed_a_person if totals else {})
    times: dict[str, list[float]] = {m: [] for m in MILESTONES}
    for told, m in stories:
        rb = told.declared.runbook
        changed = [e.detail for e in told.entries if e.event == "severity changed"]
        severity[changed[-1] if changed else told.declared.severity or rb.severity] += 1
        runbook[rb.name] += 1
        service[rb.service_name] += 1
        failing.update(f"{rb.name}/{s}" for s in m.failed_steps)
        if needed_a_person(told, m):
            needed[rb.name] += 1
        for name in MILESTONES:
            value = getattr(m, f"time_to_{name}")
            if value is not None:
                times[name].append(value)
    return Report(
        since=since,
        incidents=len(stories) + (totals.incidents if totals else 0),
        by_severity=dict(severity.most_common()),
        by_runbook=dict(runbook.most_common()),
        by_service=dict(service.most_common()),
        time_to={
            name: _merged(values, name, since, archived) if archived else spread(values)
            for name, values in times.items()
        },
        failing_steps=dict(failing.most_common()),
        needed_a_person=dict(needed.most_common()),
    )


def _merged(
    values: list[float], milestone: str, since: datetime, archived: tuple[Archive, Totals]
) -> Spread:
    """The spread of these values and the archive's, reading from the archive only the ranks
    that can be the answer: at least k - len(values) of the first k of both are the
    archive's, so the k-th is among the archive's ranks k - len(values) .. k and the values
    here."""
    archive, totals = archived
    ours = sorted(values)

    def kth(k: int) -> float:
        low = max(0, k - len(ours) - 1)
        theirs = archive.times(milestone, since, low, k - low)
        return sorted(theirs + ours)[k - low - 1]

    return spread_of(totals.reached[milestone] + len(ours), kth)


async def incidents_report(
    client: Client, since: timedelta, now: datetime | None = None, archive: Archive | None = None
) -> Report:
    """Every incident declared in the last `since`: the archived ones from the archive
    (`archive`, or the configured one), the others each id's latest incident in Temporal."""
    start = (now or datetime.now(UTC)) - since
    query = f"WorkflowType = 'IncidentWorkflow' AND StartTime >= '{start.isoformat()}'"
    newest: dict[str, tuple[datetime, str]] = {}
    async for wf in client.list_workflows(query):
        newest[wf.id] = max(
            newest.get(wf.id, (wf.start_time, wf.run_id)), (wf.start_time, wf.run_id)
        )
    archived: tuple[Archive, Totals] | None = None
    ids = list(newest)
    try:
        archive = archive or await asyncio.to_thread(configured)
        if archive is not None:
            runs = [run for _, run in newest.values()]
            done = await asyncio.to_thread(archive.archived_runs, runs)
            archived = (archive, await asyncio.to_thread(archive.totals, start))
            ids = [i for i in ids if newest[i][1] not in done]  # counted from the archive
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise unreadable(exc) from exc
    gate = asyncio.Semaphore(READ_AT_ONCE)

    async def read(incident_id: str) -> tuple[Story, Metrics] | None:
        async with gate:
            try:
                told = await story(client, incident_id)
            except IncidentNotFound:
                return None  # gone since the listing (retention)
            return told, of_story(told, now)

    found = await asyncio.gather(*(read(i) for i in ids))
    told = [f for f in found if f is not None]
    return await asyncio.to_thread(report, told, start, archived)
