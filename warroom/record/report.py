"""Across incidents: counts by severity, runbook and service; median and p90 time to
acknowledge, mitigate and resolve; the steps that fail most; the runbooks that most often
needed a person. Each incident is read from its history, as its timeline is."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client

from warroom.errors import IncidentNotFound
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


def spread(values: list[float]) -> Spread:
    if not values:
        return Spread()
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * 9 // 10) - 1))]  # nearest rank
    return Spread(incidents=len(values), median=statistics.median(ordered), p90=p90)


def report(stories: list[tuple[Story, Metrics]], since: datetime) -> Report:
    severity: Counter[str] = Counter()
    runbook: Counter[str] = Counter()
    service: Counter[str] = Counter()
    failing: Counter[str] = Counter()
    needed: Counter[str] = Counter()
    times: dict[str, list[float]] = {m: [] for m in MILESTONES}
    for told, m in stories:
        rb = told.declared.runbook
        changed = [e.detail for e in told.entries if e.event == "severity changed"]
        severity[changed[-1] if changed else told.declared.severity or rb.severity] += 1
        runbook[rb.name] += 1
        service[rb.service_name] += 1
        failing.update(f"{rb.name}/{s}" for s in m.failed_steps)
        if (
            m.waiting_on_people
            or m.retried_by_hand
            or any(e.event in ("skipped", "retried") for e in told.entries)
        ):
            needed[rb.name] += 1
        for name in MILESTONES:
            value = getattr(m, f"time_to_{name}")
            if value is not None:
                times[name].append(value)
    return Report(
        since=since,
        incidents=len(stories),
        by_severity=dict(severity.most_common()),
        by_runbook=dict(runbook.most_common()),
        by_service=dict(service.most_common()),
        time_to={name: spread(values) for name, values in times.items()},
        failing_steps=dict(failing.most_common()),
        needed_a_person=dict(needed.most_common()),
    )


async def incidents_report(client: Client, since: timedelta, now: datetime | None = None) -> Report:
    """Every incident declared in the last `since` (each id's latest incident)."""
    start = (now or datetime.now(UTC)) - since
    query = f"WorkflowType = 'IncidentWorkflow' AND StartTime >= '{start.isoformat()}'"
    ids = list(dict.fromkeys([wf.id async for wf in client.list_workflows(query)]))
    gate = asyncio.Semaphore(READ_AT_ONCE)

    async def read(incident_id: str) -> tuple[Story, Metrics] | None:
        async with gate:
            try:
                told = await story(client, incident_id)
            except IncidentNotFound:
                return None  # gone since the listing (retention)
            return told, of_story(told, now)

    found = await asyncio.gather(*(read(i) for i in ids))
    return report([f for f in found if f is not None], start)
