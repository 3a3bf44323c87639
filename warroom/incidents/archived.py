"""Incidents as the archive lists them, beside Temporal: `warroom list --archived` and
`warroom search` (the archive's full-text search, and open incidents in Temporal whose title
or summary has every word)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy.exc
from temporalio.client import Client

from warroom.archive.store import ARCHIVE_URL, Archive, Listed, configured, words
from warroom.errors import WarroomError
from warroom.incidents.views import IncidentSummary, list_incidents
from warroom.record.archived import unreadable

#: How many open incidents search reads from Temporal (open incidents are few).
OPEN_SCANNED = 1000


def summary(found: Listed) -> IncidentSummary:
    """An archived chain as a line of `list` (execution status "archived")."""
    return IncidentSummary(
        incident_id=found.incident_id,
        title=found.title,
        summary=found.summary,
        status=found.status,
        severity=found.severity,
        phase="",
        runbook=found.runbook,
        service=found.service,
        started_at=found.declared_at,
        closed_at=found.closed_at,
        execution_status="archived",
    )


async def _reading(read: Callable[[Archive], list[Listed]], *, required: bool) -> list[Listed]:
    """`read(archive)` on the configured archive ([] without one, unless `required`); a
    database that cannot be reached or opened is said in one line."""

    def go() -> list[Listed]:
        archive = configured()
        if archive is None:
            if required:
                raise WarroomError(f"{ARCHIVE_URL} is not set: there is no archive to list")
            return []
        return read(archive)

    try:
        return await asyncio.to_thread(go)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise unreadable(exc) from exc


async def archived_list(
    *,
    limit: int = 50,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    runbook: str | None = None,
) -> list[IncidentSummary]:
    """Archived incidents, most recently closed first."""
    found = await _reading(
        lambda a: a.listing(
            limit=limit, status=status, severity=severity, service=service, runbook=runbook
        ),
        required=True,
    )
    return [summary(f) for f in found]


async def search(
    client: Client,
    text: str,
    *,
    service: str | None = None,
    runbook: str | None = None,
    since: timedelta | None = None,
    limit: int = 50,
) -> list[IncidentSummary]:
    """Open incidents (Temporal) whose title or summary has every word of `text`, then
    archived ones (full text: title, summary and the people's notes; stemmed), newest first.
    An incident still open in Temporal whose record is already archived is listed once."""
    start = datetime.now(UTC) - since if since is not None else None
    wanted = [w.lower() for w in words(text)]
    open_ = [
        s
        for s in await list_incidents(
            client, limit=OPEN_SCANNED, service=service, runbook=runbook, running=True
        )
        if wanted
        and all(w in f"{s.title} {s.summary}".lower() for w in wanted)
        and (start is None or (s.started_at is not None and s.started_at >= start))
    ]
    found = await _reading(
        lambda a: a.search(text, service=service, runbook=runbook, since=start, limit=limit),
        required=False,
    )
    started = {s.incident_id: s.started_at for s in open_}
    archived = [
        summary(f)
        for f in found
        if f.incident_id not in started
        or (f.closed_at is not None and (started[f.incident_id] or f.closed_at) > f.closed_at)
    ]
    return (open_ + archived)[:limit]
