"""The incident archive: closed incidents' records in a SQL database, kept after Temporal's
retention deletes their histories. SQLite in the data dir by default (WAL, one writer),
PostgreSQL in production (`WARROOM_ARCHIVE_URL=postgresql+psycopg://…`); the schema is
migrated with Alembic when the archive is opened."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from warroom.archive.schema import (
    MILESTONES,
    failed_steps,
    histories,
    incidents,
    timeline_entries,
)
from warroom.errors import WarroomError

#: Where the archive is: a SQLAlchemy URL. Unset: nothing is archived.
ARCHIVE_URL = "WARROOM_ARCHIVE_URL"
#: The schema version this code writes (the newest Alembic revision).
SCHEMA_VERSION = "0002"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class ArchiveUnreadable(WarroomError):
    """An archived row that does not parse (corrupted, or edited by hand)."""

    def __init__(self, incident_id: str, why: str) -> None:
        super().__init__(f"archived record of {incident_id} is unreadable: {why}")
        self.incident_id = incident_id


@dataclass
class Listed:
    """One archived incident chain as search and `list --archived` show it."""

    incident_id: str
    chain_id: str
    title: str
    summary: str
    service: str
    runbook: str
    severity: str
    status: str
    declared_at: datetime
    closed_at: datetime | None


@dataclass
class Record(Listed):
    """One incident chain as archived: its final state, story and raw histories."""

    last_run_id: str
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
    #: It waited on a person, or one retried or skipped a step (`warroom report` counts it).
    needed_a_person: bool = False

    @property
    def notes(self) -> str:
        """The people's words in the timeline (notes, comments, reasons): what search reads
        beside the title and summary."""
        return "\n".join(
            e["detail"] for e in self.timeline if e.get("source") == "person" and e.get("detail")
        )


@dataclass
class Totals:
    """What `warroom report` counts, over the archived incidents declared since a time."""

    incidents: int
    by_severity: dict[str, int]
    by_runbook: dict[str, int]
    by_service: dict[str, int]
    #: "runbook/step": in how many incidents it failed.
    failing_steps: dict[str, int]
    needed_a_person: dict[str, int]
    #: milestone: how many incidents reached it.
    reached: dict[str, int]


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
            "notes": record.notes,
            "needed_a_person": record.needed_a_person,
            **{f"time_to_{m}": record.metrics.get(f"time_to_{m}") for m in MILESTONES},
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
        failed = [
            {**key, "step": step} for step in sorted(set(record.metrics.get("failed_steps") or []))
        ]
        fts = self.engine.dialect.name == "sqlite"
        with self._write, self.engine.begin() as conn:
            if fts:
                _unindex(conn, record.incident_id, record.chain_id)
            for table in (timeline_entries, histories, failed_steps, incidents):
                conn.execute(
                    sa.delete(table).where(
                        table.c.incident_id == record.incident_id,
                        table.c.chain_id == record.chain_id,
                    )
                )
            inserted = conn.execute(sa.insert(incidents), row)
            if fts:
                conn.execute(
                    sa.text(
                        "INSERT INTO incidents_fts(rowid, title, summary, notes) "
                        "VALUES (:rowid, :title, :summary, :notes)"
                    ),
                    {
                        "rowid": inserted.lastrowid,
                        **{k: row[k] for k in ("title", "summary", "notes")},
                    },
                )
            if entries:
                conn.execute(sa.insert(timeline_entries), entries)
            if runs:
                conn.execute(sa.insert(histories), runs)
            if failed:
                conn.execute(sa.insert(failed_steps), failed)

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

    def search(
        self,
        text: str,
        *,
        service: str | None = None,
        runbook: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[Listed]:
        """Archived incidents whose title, summary or notes have every word of `text` (stemmed:
        "failed" finds "fails"), newest first. No words: none."""
        found = words(text)
        if not found:
            return []
        if self.engine.dialect.name == "postgresql":
            matches = sa.literal_column("search").op("@@")(
                sa.func.plainto_tsquery("english", " ".join(found))
            )
        else:
            phrase = " ".join(f'"{w}"' for w in found)  # \w+ holds no quote
            matches = sa.literal_column("incidents.rowid").in_(
                sa.text("SELECT rowid FROM incidents_fts WHERE incidents_fts MATCH :q").bindparams(
                    q=phrase
                )
            )
        return self._listed(
            sa.and_(matches, *_narrowed(service=service, runbook=runbook, since=since)),
            incidents.c.declared_at.desc(),
            limit,
        )

    def listing(
        self,
        *,
        limit: int = 50,
        status: str | None = None,
        severity: str | None = None,
        service: str | None = None,
        runbook: str | None = None,
    ) -> list[Listed]:
        """Archived incidents, most recently closed first."""
        where = _narrowed(status=status, severity=severity, service=service, runbook=runbook)
        return self._listed(
            sa.and_(sa.true(), *where),
            incidents.c.closed_at.desc(),
            limit,
        )

    def _listed(self, where: sa.ColumnElement[bool], order: Any, limit: int) -> list[Listed]:
        columns = [incidents.c[f.name] for f in fields(Listed)]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*columns).where(where).order_by(order).limit(limit)).all()
        return [
            Listed(
                **{
                    **row._asdict(),
                    "declared_at": _aware(row.declared_at),
                    "closed_at": _aware(row.closed_at) if row.closed_at else None,
                }
            )
            for row in rows
        ]

    def totals(self, since: datetime) -> Totals:
        """Counts over the archived incidents declared since `since`: SQL aggregates, one
        GROUP BY over the few (severity, runbook, service, needed a person) combinations,
        summed here, and one over the failed steps."""
        recent = incidents.c.declared_at >= since
        keys = [incidents.c[k] for k in ("severity", "runbook", "service", "needed_a_person")]
        reached = [sa.func.count(incidents.c[f"time_to_{m}"]).label(m) for m in MILESTONES]
        failed = incidents.join(
            failed_steps,
            sa.and_(
                failed_steps.c.incident_id == incidents.c.incident_id,
                failed_steps.c.chain_id == incidents.c.chain_id,
            ),
        )
        with self.engine.connect() as conn:
            groups = conn.execute(
                sa.select(*keys, sa.func.count().label("n"), *reached).where(recent).group_by(*keys)
            ).all()
            steps = conn.execute(
                sa.select(incidents.c.runbook, failed_steps.c.step, sa.func.count())
                .select_from(failed)
                .where(recent)
                .group_by(incidents.c.runbook, failed_steps.c.step)
            ).all()
        counts: dict[str, Counter[str]] = {k: Counter() for k in ("sev", "rb", "svc", "person")}
        for g in groups:
            counts["sev"][g.severity] += g.n
            counts["rb"][g.runbook] += g.n
            counts["svc"][g.service] += g.n
            if g.needed_a_person:
                counts["person"][g.runbook] += g.n
        return Totals(
            incidents=sum(counts["sev"].values()),
            by_severity=_most_first(counts["sev"]),
            by_runbook=_most_first(counts["rb"]),
            by_service=_most_first(counts["svc"]),
            failing_steps=_most_first(Counter({f"{rb}/{step}": n for rb, step, n in steps})),
            needed_a_person=_most_first(counts["person"]),
            reached={m: sum(int(g._mapping[m]) for g in groups) for m in MILESTONES},
        )

    def times(self, milestone: str, since: datetime, offset: int, limit: int) -> list[float]:
        """The archived incidents' times to `milestone`, smallest first, `limit` of them from
        rank `offset` (0 = the smallest): what a percentile needs, not every value."""
        column = incidents.c[f"time_to_{milestone}"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(column)
                .where(incidents.c.declared_at >= since, column.is_not(None))
                .order_by(column)
                .offset(offset)
                .limit(limit)
            ).scalars()
            return [float(v) for v in rows]

    def archived_runs(self, run_ids: list[str]) -> set[str]:
        """Which of these runs closed an archived chain (its `last_run_id`)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(run_ids), 500):
                found.update(
                    conn.execute(
                        sa.select(incidents.c.last_run_id).where(
                            incidents.c.last_run_id.in_(run_ids[start : start + 500])
                        )
                    ).scalars()
                )
        return found

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


#: What search takes as words (FTS5 and tsquery syntax is not passed through).
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words search looks for: letters and digits, a lone letter left out ("checkout's")."""
    return [w for w in _WORD.findall(text) if len(w) > 1 or w.isdigit()]


def _most_first(counts: Counter[str]) -> dict[str, int]:
    """Most first, then by name (the same order from every database)."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _narrowed(
    *, since: datetime | None = None, **equal: str | None
) -> list[sa.ColumnElement[bool]]:
    where = [incidents.c[name] == value for name, value in equal.items() if value is not None]
    if since is not None:
        where.append(incidents.c.declared_at >= since)
    return where


def _unindex(conn: Connection, incident_id: str, chain_id: str) -> None:
    """Take an earlier copy of the chain out of SQLite's external-content FTS5 index (it
    needs the indexed values to remove them)."""
    old = conn.execute(
        sa.select(
            sa.literal_column("rowid"), incidents.c.title, incidents.c.summary, incidents.c.notes
        ).where(incidents.c.incident_id == incident_id, incidents.c.chain_id == chain_id)
    ).one_or_none()
    if old is not None:
        conn.execute(
            sa.text(
                "INSERT INTO incidents_fts(incidents_fts, rowid, title, summary, notes) "
                "VALUES ('delete', :rowid, :title, :summary, :notes)"
            ),
            {"rowid": old[0], "title": old.title, "summary": old.summary, "notes": old.notes},
        )


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
