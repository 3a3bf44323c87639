"""The archive store on SQLite and PostgreSQL: migrated at open, a write is an upsert by
incident id and chain, a damaged row is named, concurrent writers all land."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from warroom.archive.schema import INDEXED
from warroom.archive.store import SCHEMA_VERSION, Archive, ArchiveUnreadable, Record

DECLARED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(incident_id: str = "inc-1", chain_id: str = "run-a", **changes) -> Record:
    fields = {
        "incident_id": incident_id,
        "chain_id": chain_id,
        "last_run_id": chain_id,
        "title": "Checkout 5xx",
        "summary": "checkout down",
        "service": "checkout",
        "runbook": "checkout-5xx",
        "severity": "SEV1",
        "status": "resolved",
        "declared_at": DECLARED,
        "closed_at": DECLARED + timedelta(minutes=30),
        "state": {"incident_id": incident_id, "status": "resolved"},
        "metrics": {"time_to_resolve": 1800.0},
        "postmortem": "# Checkout 5xx\n",
        "fingerprints": ["fp-1", "fp-2"],
        "runs": [(chain_id, json.dumps({"events": []}))],
        "timeline": [
            {"time": DECLARED.isoformat(), "event": "declared", "source": "person", "detail": "x"},
            {"time": (DECLARED + timedelta(minutes=30)).isoformat(), "event": "closed: resolved"},
        ],
    }
    return Record(**{**fields, **changes})


def test_open_migrates_to_the_newest_schema_with_the_indexes(archive_url):
    archive = Archive(archive_url)
    assert archive.schema_version() == SCHEMA_VERSION
    inspector = sa.inspect(archive.engine)
    assert set(inspector.get_table_names()) >= {"incidents", "timeline_entries", "histories"}
    indexed = {tuple(i["column_names"]) for i in inspector.get_indexes("incidents")}
    assert {(c,) for c in INDEXED} <= indexed
    Archive(archive_url).close()  # opening again migrates nothing and breaks nothing
    archive.close()


def test_a_record_reads_back_whole_and_a_second_write_replaces_it(archive_url):
    archive = Archive(archive_url)
    archive.put(record())
    archive.put(record(status="aborted"))  # a retried activity, a replayed close
    assert archive.count() == 1
    got = archive.latest("inc-1")
    assert got is not None
    assert (got.status, got.fingerprints, got.postmortem) == (
        "aborted",
        ["fp-1", "fp-2"],
        "# Checkout 5xx\n",
    )
    assert got.declared_at == DECLARED
    assert [e["event"] for e in got.timeline] == ["declared", "closed: resolved"]
    assert got.runs == [("run-a", json.dumps({"events": []}))]
    with archive.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM timeline_entries")).scalar()
    assert rows == 2
    assert archive.latest("inc-unknown") is None
    archive.close()


def test_a_later_incident_reusing_the_id_is_its_own_row_and_the_newest_is_read(archive_url):
    archive = Archive(archive_url)
    archive.put(record())
    archive.put(record(chain_id="run-b", declared_at=DECLARED + timedelta(days=2), title="again"))
    assert archive.count() == 2
    assert archive.latest("inc-1").title == "again"
    archive.close()


def test_a_damaged_row_names_its_incident_and_the_others_still_read(archive_url):
    archive = Archive(archive_url)
    archive.put(record("inc-bad"))
    archive.put(record("inc-good"))
    with archive.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE incidents SET state = '{broken' WHERE incident_id = 'inc-bad'")
        )
    with pytest.raises(ArchiveUnreadable, match="inc-bad"):
        archive.latest("inc-bad")
    assert archive.latest("inc-good").status == "resolved"
    archive.close()


def test_200_concurrent_closes_make_200_rows_without_lock_errors(archive_url):
    archive = Archive(archive_url)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: archive.put(record(f"inc-{n}", f"run-{n}")), range(200)))
    assert archive.count() == 200
    archive.close()


def test_sqlite_runs_in_wal_mode(tmp_path):
    archive = Archive(f"sqlite:///{tmp_path / 'archive.db'}")
    with archive.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    archive.close()
