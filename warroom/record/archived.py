"""Reading a closed incident back from the archive once Temporal no longer has it: the same
run histories the timeline, postmortem and `show` read from Temporal."""

from __future__ import annotations

import asyncio

import sqlalchemy.exc
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from warroom.archive.store import Record, configured
from warroom.errors import WarroomError


class ArchiveUnavailable(WarroomError):
    """The archive is configured but cannot be read (the database is down)."""


async def archived(incident_id: str) -> Record | None:
    """The incident's newest archived record, or None (no archive, or not in it)."""

    def read() -> Record | None:
        archive = configured()
        return archive.latest(incident_id) if archive is not None else None

    try:
        return await asyncio.to_thread(read)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise unreadable(exc, f"{incident_id} is not in Temporal and the archive") from exc


def unreadable(
    exc: sqlalchemy.exc.SQLAlchemyError, what: str = "the archive"
) -> ArchiveUnavailable:
    """The error to say when the archive cannot be read: the database's first line."""
    return ArchiveUnavailable(f"{what} cannot be read: {str(exc).splitlines()[0]}")


def archived_runs(record: Record) -> list[list[HistoryEvent]]:
    """The record's run histories, first run first, as Temporal gave them."""
    return [
        list(WorkflowHistory.from_json(record.incident_id, text).events) for _, text in record.runs
    ]
