"""Search and report aggregates over the archive (schema 0002), on SQLite and PostgreSQL:
full-text over title, summary and the people's notes, kept in step by every write; the
counts `warroom report` prints, as SQL aggregates; an archive written under 0001 upgraded."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.archive.test_store import DECLARED, record
from warroom.archive.store import MIGRATIONS, Archive


def noted(text: str, **changes):
    entries = [
        {"time": DECLARED.isoformat(), "event": "declared", "source": "person", "detail": ""},
        {"time": DECLARED.isoformat(), "event": "note", "source": "person", "detail": text},
        {"time": DECLARED.isoformat(), "event": "step failed", "detail": "not searched"},
    ]
    return record(timeline=entries, **changes)


def ids(found) -> list[str]:
    return [f.incident_id for f in found]


def test_search_finds_title_summary_and_notes_with_every_word_stemmed(archive_url):
    archive = Archive(archive_url)
    archive.put(noted("the rollback failed twice", incident_id="inc-a", chain_id="a"))
    archive.put(
        noted(
            "all good",
            incident_id="inc-b",
            chain_id="b",
            title="Payments latency",
            summary="payments slow after deploy",
            service="payments",
            runbook="payments-latency",
            declared_at=DECLARED + timedelta(days=1),
        )
    )
    assert ids(archive.search("rollback fails")) == ["inc-a"]  # stemmed, from a note
    assert ids(archive.search("PAYMENTS deploy")) == ["inc-b"]  # summary, any case
    assert ids(archive.search("checkout")) == ["inc-a"]  # title
    assert ids(archive.search("rollback payments")) == []  # every word
    assert ids(archive.search("not searched")) == []  # automation's details are not notes
    assert archive.search("  ' \" * OR ( ") == []  # no words, no syntax error
    assert ids(archive.search('checkout\'s "rollback"')) == ["inc-a"]
    # Newest first; narrowed by service, runbook and time.
    archive.put(
        noted(
            "rollback", incident_id="inc-c", chain_id="c", declared_at=DECLARED + timedelta(days=3)
        )
    )
    assert ids(archive.search("rollback")) == ["inc-c", "inc-a"]
    assert ids(archive.search("rollback", since=DECLARED + timedelta(days=2))) == ["inc-c"]
    assert ids(archive.search("good", service="payments")) == ["inc-b"]
    assert ids(archive.search("good", service="checkout")) == []
    assert ids(archive.search("good", runbook="checkout-5xx")) == []
    archive.close()


def test_a_rewrite_replaces_the_indexed_text(archive_url):
    archive = Archive(archive_url)
    archive.put(noted("database restarted"))
    archive.put(noted("cache flushed"))  # the same chain again, with other notes
    assert ids(archive.search("database")) == []
    assert ids(archive.search("cache flushed")) == ["inc-1"]
    assert archive.count() == 1
    archive.close()


def test_totals_are_the_counts_report_prints(archive_url):
    archive = Archive(archive_url)
    metrics = {"time_to_acknowledge": 60.0, "time_to_resolve": 600.0, "failed_steps": ["restart"]}
    archive.put(record("inc-1", "a", metrics=metrics, needed_a_person=True))
    archive.put(record("inc-2", "b", metrics=metrics, severity="SEV2"))
    archive.put(record("inc-3", "c", service="payments", runbook="pay", metrics={}))
    archive.put(record("inc-old", "d", declared_at=DECLARED - timedelta(days=400)))
    got = archive.totals(DECLARED - timedelta(days=1))
    assert got.incidents == 3
    assert got.by_severity == {"SEV1": 2, "SEV2": 1}
    assert got.by_runbook == {"checkout-5xx": 2, "pay": 1}
    assert got.by_service == {"checkout": 2, "payments": 1}
    assert got.failing_steps == {"checkout-5xx/restart": 2}
    assert got.needed_a_person == {"checkout-5xx": 1}
    assert got.reached == {"acknowledge": 2, "mitigate": 0, "resolve": 2}
    since = DECLARED - timedelta(days=1)
    assert archive.times("resolve", since, 0, 10) == [600.0, 600.0]
    assert archive.times("acknowledge", since, 1, 10) == [60.0]
    assert archive.archived_runs(["a", "zz", "d"]) == {"a", "d"}
    archive.close()


def test_an_archive_written_under_0001_is_filled_in_by_0002(archive_url):
    engine = sa.create_engine(archive_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO incidents VALUES ('inc-old', 'r1', 'r1', 'Checkout 5xx', 's',"
                " 'checkout', 'checkout-5xx', 'SEV1', 'resolved', :at, :at, :at, '{}',"
                " '{\"time_to_resolve\": 90.0, \"failed_steps\": [\"restart\"]}', '', '[]', :t)"
            ),
            {"at": DECLARED, "t": True},
        )
        conn.execute(
            sa.text(
                "INSERT INTO timeline_entries VALUES ('inc-old', 'r1', 0, :at, 'skipped',"
                " 'restart', 'carol', 'person', 'rollback by hand')"
            ),
            {"at": DECLARED},
        )
    engine.dispose()
    archive = Archive(archive_url)  # migrates to 0002
    # Its timeline is still there (a table copy on SQLite would have cascaded it away).
    assert [e["detail"] for e in archive.latest("inc-old").timeline] == ["rollback by hand"]
    assert ids(archive.search("rollback")) == ["inc-old"]
    got = archive.totals(DECLARED - timedelta(days=1))
    assert (got.failing_steps, got.needed_a_person, got.reached["resolve"]) == (
        {"checkout-5xx/restart": 1},
        {"checkout-5xx": 1},
        1,
    )
    archive.close()
