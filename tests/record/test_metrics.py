"""Metrics computed exactly on constructed timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.record.metrics import metrics
from warroom.record.report import report, spread
from warroom.record.timeline import TimelineEntry

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def at(minutes: float, event: str, **fields: object) -> TimelineEntry:
    return TimelineEntry(time=T0 + timedelta(minutes=minutes), event=event, **fields)  # type: ignore[arg-type]


CADENCE = {"SEV2": timedelta(hours=1), "SEV1": timedelta(minutes=15)}
ENTRIES = [
    at(0, "declared", source="person", actor="dana"),
    at(0, "alert received", source="alert"),
    at(1, "state", detail="status → awaiting_approval, phase → mitigate"),
    at(3, "acknowledged", source="person", actor="erin"),
    at(5, "alert repeated", source="alert"),
    at(11, "approved", source="person", actor="erin", step="rollback"),
    at(11, "state", detail="status → active"),
    at(12, "step failed", step="rollback", attempt=3, error="boom"),
    at(12, "state", detail="status → paused"),
    at(20, "retried", source="person", actor="erin", step="rollback"),
    at(20, "state", detail="status → active"),
    at(21, "step succeeded", step="rollback", attempt=2),
    at(21, "mitigated"),
    at(30, "severity changed", source="person", actor="erin", detail="SEV1"),
    at(47, "status update posted", detail="target #1 (cadence)"),  # due 30+15 = 45: late
    at(47, "status update failed", detail="target #2 (cadence)"),
    at(60, "status update posted", detail="target #1 (cadence)"),  # due 62: on time
    at(90, "status update posted", detail="target #1 (cadence)"),  # due 75: late
    at(95, "state", detail="status → resolved"),
    at(95, "status update posted", detail="target #1 (final)"),
    at(95, "closed: resolved"),
]


def test_metrics_are_exact():
    m = metrics(ENTRIES, CADENCE, "SEV2")
    assert (m.time_to_acknowledge, m.time_to_mitigate, m.time_to_resolve) == (180, 1260, 5700)
    assert m.waiting_on_people == (10 + 8) * 60  # the gate 1→11, paused 12→20
    assert [(u.kind, u.posted, u.failed, u.late) for u in m.updates] == [
        ("cadence", 1, 1, True),
        ("cadence", 1, 0, False),
        ("cadence", 1, 0, True),
        ("final", 1, 0, False),
    ]
    assert m.updates[0].due == T0 + timedelta(minutes=45)
    assert (m.updates_sent, m.updates_late, m.updates_failed) == (4, 2, 1)
    assert m.alerts_received == 2
    assert (m.retries, m.retried_by_hand) == (2 + 1 + 1, 1)  # attempts beyond the first + by hand
    assert m.failed_steps == []  # rollback failed, then succeeded when retried by hand


def test_each_level_sent_or_paged_is_one_escalation():
    entries = [
        at(0, "declared", source="person", actor="dana"),
        at(5, "escalation sent", detail="level 1"),
        at(6, "paged", detail="level 1: carol by webhook (on call for sre-primary)"),
        at(6, "paged", detail="level 1: dana by email (group sre)"),  # same level, same time
        at(16, "paged", detail="level 2: sam by webhook (group sre-leads)"),
    ]
    assert metrics(entries, CADENCE, "SEV2").escalations == 3


def test_failed_steps_are_those_whose_last_outcome_is_a_failure():
    m = metrics(
        [
            at(0, "declared"),
            at(1, "step failed", step="rollback", error="boom"),
            at(2, "retried", source="person", step="rollback"),
            at(3, "step succeeded", step="rollback"),
            at(4, "step failed", step="drain", error="boom"),
            at(5, "skipped", source="person", step="drain"),  # given up on: it failed
            at(6, "step timed out", step="verify", error="slow"),
            at(7, "step failed", step="announce", error="warroom.SecretMissing: ..."),
            at(7, "skipped (secret unset)", step="announce"),  # a warning, not a failure
            at(8, "closed: aborted"),
        ]
    )
    assert m.failed_steps == ["drain", "verify"]


def test_an_open_incident_waits_on_people_up_to_the_clock():
    """Shown while the gate still waits: the wait counts to now, not to the last entry."""
    start = datetime.now(UTC) - timedelta(minutes=6)
    entries = [
        TimelineEntry(time=start, event="declared"),
        TimelineEntry(time=start, event="state", detail="status → awaiting_approval"),
        TimelineEntry(time=start + timedelta(minutes=1), event="status update posted"),
    ]
    before = datetime.now(UTC)
    m = metrics(entries)
    assert m.waiting_on_people >= (before - start).total_seconds() >= 6 * 60
    # Once it ended, the wait stops at its end.
    ended = [*entries, TimelineEntry(time=start + timedelta(minutes=2), event="terminated")]
    assert metrics(ended).waiting_on_people == 2 * 60


def test_an_open_wait_counts_up_to_now_and_unreached_milestones_are_none():
    entries = ENTRIES[:3]
    m = metrics(entries, CADENCE, "SEV2", now=T0 + timedelta(minutes=7))
    assert m.waiting_on_people == 6 * 60
    assert (m.time_to_acknowledge, m.time_to_mitigate, m.time_to_resolve) == (None, None, None)


def test_resolved_without_a_mitigate_step_is_mitigated_when_resolved():
    m = metrics([at(0, "declared"), at(4, "closed: resolved")])
    assert m.time_to_mitigate == m.time_to_resolve == 240


def test_spread_is_median_and_nearest_rank_p90():
    s = spread([float(v) for v in range(1, 11)])
    assert (s.incidents, s.median, s.p90) == (10, 5.5, 9.0)
    assert spread([]).median is None
    assert report([], T0).incidents == 0
