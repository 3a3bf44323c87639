"""A storm in the postmortem draft: its timeline cuts a long run of alert entries to its ends
and one row that counts the rest; the audited timeline keeps every entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.record.postmortem import ALERT_ROWS, ALERT_ROWS_KEPT, condensed, timeline_markdown
from warroom.record.timeline import TimelineEntry

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def alert_entry(n: int, event: str = "alert received") -> TimelineEntry:
    return TimelineEntry(
        time=START + timedelta(seconds=n),
        event=event,
        source="alert",
        actor="alertmanager",
        detail=f"DiskFull (fp-{n})",
    )


def test_a_storm_shows_its_first_and_last_alerts_and_counts_the_rest_by_event():
    declared = TimelineEntry(time=START, event="declared", source="alert")
    storm = [
        alert_entry(n, "alert resolved" if n % 4 == 0 else "alert received")
        for n in range(1, 20_001)
    ]
    approved = TimelineEntry(time=START + timedelta(hours=6), event="approved", source="person")
    shown = condensed([declared, *storm, approved])
    assert shown[: 1 + ALERT_ROWS_KEPT] == [declared, *storm[:ALERT_ROWS_KEPT]]
    assert shown[-1 - ALERT_ROWS_KEPT :] == [*storm[-ALERT_ROWS_KEPT:], approved]
    counted = shown[1 + ALERT_ROWS_KEPT]
    assert len(shown) == 2 * ALERT_ROWS_KEPT + 3
    left_out = 20_000 - 2 * ALERT_ROWS_KEPT
    assert counted.event == f"{left_out:,} more alert entries"
    assert counted.time == storm[ALERT_ROWS_KEPT].time
    assert counted.detail == (
        "14,993 alert received, 4,997 alert resolved, until 17:33:15 (every one: `warroom timeline`)"
    )
    table = timeline_markdown(shown)
    assert "DiskFull (fp-5) |" in table and "DiskFull (fp-19996) |" in table
    assert "DiskFull (fp-6) |" not in table and "DiskFull (fp-19995) |" not in table


def test_runs_of_alerts_up_to_the_limit_and_runs_split_by_other_entries_stay_whole():
    note = TimelineEntry(time=START, event="note", source="person", detail="bridge open")
    entries = [
        *(alert_entry(n) for n in range(ALERT_ROWS)),
        note,
        *(alert_entry(n) for n in range(ALERT_ROWS, 2 * ALERT_ROWS)),
    ]
    assert condensed(entries) == entries
