"""The incident archive: closed incidents' records in a SQL database, kept after Temporal's
retention deletes their histories. SQLite in the data dir by default (WAL, one writer),
PostgreSQL in production (`WARROOM_ARCHIVE_URL=postgresql+psycopg://…`); the schema is
migrated with Alembic when the archive is opened."""

from __future__ import annotations

import gzip
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from warroom.archive.schema import histories, incidents, timeline_entries
from warroom.errors import WarroomError

#: Where the archive is: a SQLAlchemy URL. Unset: nothing is archived.
ARCHIVE_URL = "WARROOM_ARCHIVE_URL"
#: The schema version this code writes (the newest Alembic revision).
SCHEMA_VERSION = "0001"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class ArchiveUnreadable(WarroomError):
    """An archived row that does not parse (corrupted, or edited by hand)."""

    def __init__(self, incident_id: str, why: str) -> None:
        super().__init__(f"archived record of {incident_id} is unreadable: {why}")
        self.incident_id = incident_id


@dataclass
class Record:
    """One incident chain as archived: its final state, story and raw histories."""

    incident_id: str
    chain_id: str
    last_run_id: str
    title: str
    summary: str
    service: str
    runbook: str
    severity: str
    status: str
    declared_at: datetime
    closed_at: datetime | None
    state: dict[str, Any]
    metrics: dict[str, Any]
    postmortem: str
    fingerprints: list[str]
    #: Each run's history JSON (as `WorkflowHistory.to_json` writes it), first run first.
    runs: list[tuple[str, str]]
    #: Timeline entries as JSON objects (the `timeline --json` fields), oldest first.
    timeline: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    archived_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def sqlite_url(data_dir: Path) -> str:
    """The embedded default: `<data-dir>/archive.db`."""
    return f"sqlite:///{data_dir.resolve() / 'archive.db'}"


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi: Any, _record: Any) -> None:
            cursor = dbapi.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(connection: Connection) -> None:
    """Bring the schema to the newest revision (Alembic, shipped in this package)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class Archive:
    """The archive behind one URL. Writes go one at a time (SQLite has one writer)."""

    def __init__(self, url: str) -> None:
        self.engine = _engine(url)
        self._write = threading.Lock()
        with self._write, self.engine.begin() as conn:
            migrate(conn)

    @property
    def where(self) -> str:
        """The URL without its password (it is said in the timeline and logs)."""
        return self.engine.url.render_as_string(hide_password=True)

    def schema_version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())

    def put(self, record: Record) -> None:
        """Store the record, replacing any earlier copy of the same chain (idempotent)."""
        key = {"incident_id": record.incident_id, "chain_id": record.chain_id}
        row = {
            **key,
            "last_run_id": record.last_run_id,
            "title": record.title,
            "summary": record.summary,
            "service": record.service,
            "runbook": record.runbook,
            "severity": record.severity,
            "status": record.status,
            "declared_at": record.declared_at,
            "closed_at": record.closed_at,
            "archived_at": record.archived_at,
            "state": json.dumps(record.state),
            "metrics": json.dumps(record.metrics),
            "postmortem": record.postmortem,
            "fingerprints": json.dumps(record.fingerprints),
            "complete": record.complete,
        }
        entries = [
            {
                **key,
                "seq": seq,
                "time": datetime.fromisoformat(e["time"])
                if isinstance(e["time"], str)
                else e["time"],
                "event": e["event"],
                "step": e.get("step"),
                "actor": e.get("actor"),
                "source": e.get("source", "automation"),
                "detail": e.get("detail", ""),
            }
            for seq, e in enumerate(record.timeline)
        ]
        runs = [
            {**key, "run": n, "run_id": run_id, "events": gzip.compress(text.encode())}
            for n, (run_id, text) in enumerate(record.runs, start=1)
        ]
        with self._write, self.engine.begin() as conn:
            for table in (timeline_entries, histories, incidents):
                conn.execute(
                    sa.delete(table).where(
                        table.c.incident_id == record.incident_id,
                        table.c.chain_id == record.chain_id,
                    )
                )
            conn.execute(sa.insert(incidents), [row])
            if entries:
                conn.execute(sa.insert(timeline_entries), entries)
            if runs:
                conn.execute(sa.insert(histories), runs)

    def latest(self, incident_id: str) -> Record | None:
        """The incident's newest archived chain, or None (ArchiveUnreadable if it is damaged)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(incidents)
                .where(incidents.c.incident_id == incident_id)
                .order_by(incidents.c.declared_at.desc())
                .limit(1)
            ).one_or_none()
            if row is None:
                return None
            runs = conn.execute(
                sa.select(histories.c.run_id, histories.c.events)
                .where(
                    histories.c.incident_id == incident_id,
                    histories.c.chain_id == row.chain_id,
                )
                .order_by(histories.c.run)
            ).all()
            entries = conn.execute(
                sa.select(timeline_entries)
                .where(
                    timeline_entries.c.incident_id == incident_id,
                    timeline_entries.c.chain_id == row.chain_id,
                )
                .order_by(timeline_entries.c.seq)
            ).all()
        try:
            return Record(
                incident_id=row.incident_id,
                chain_id=row.chain_id,
                last_run_id=row.last_run_id,
                title=row.title,
                summary=row.summary,
                service=row.service,
                runbook=row.runbook,
                severity=row.severity,
                status=row.status,
                declared_at=_aware(row.declared_at),
                closed_at=_aware(row.closed_at) if row.closed_at else None,
                archived_at=_aware(row.archived_at),
                state=json.loads(row.state),
                metrics=json.loads(row.metrics),
                postmortem=row.postmortem,
                fingerprints=json.loads(row.fingerprints),
                complete=bool(row.complete),
                runs=[(r.run_id, gzip.decompress(r.events).decode()) for r in runs],
                timeline=[
                    {
                        "time": _aware(e.time).isoformat(),
                        "event": e.event,
                        "step": e.step,
                        "actor": e.actor,
                        "source": e.source,
                        "detail": e.detail,
                    }
                    for e in entries
                ],
            )
        except (ValueError, OSError, EOFError, TypeError) as exc:  # bad JSON, bad gzip
            raise ArchiveUnreadable(incident_id, str(exc) or type(exc).__name__) from exc

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


def _aware(when: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_OPEN: dict[str, Archive] = {}
_OPENING = threading.Lock()


def configured() -> Archive | None:
    """The archive `WARROOM_ARCHIVE_URL` names (opened and migrated once per process), or
    None when it is not set."""
    url = os.environ.get(ARCHIVE_URL, "").strip()
    if not url:
        return None
    with _OPENING:
        if url not in _OPEN:
            _OPEN[url] = Archive(url)
        return _OPEN[url]
