"""Who is on call when: DST handoffs in Europe/Berlin, and property tests over random
schedules, overrides and instants (one answer or the documented nobody, overrides win, layers
stack, `shifts` agrees with `who_is_on_call`)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oncall.fixtures import NAMES, example
from warroom.language.oncall import WEEKDAYS, Layer, Override, Restrict, Rotation, Schedule
from warroom.language.oncall_time import ScheduleClock, shifts, who_is_on_call

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rotation_schedule(every: str, handoff: str, start: date, members: list[str]) -> Schedule:
    return Schedule(
        timezone=BERLIN,
        layers=[
            Layer(rotation=Rotation(every=every, handoff=handoff, start=start), members=members)
        ],
    )


def handoffs(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    return [s.start for s in shifts(schedule, [], start, end)][1:]


def test_a_weekly_monday_handoff_stays_at_nine_local_across_both_dst_changes() -> None:
    weekly = rotation_schedule("1w", "mon 09:00", date(2026, 3, 1), ["alice", "bob"])
    assert handoffs(weekly, utc(2026, 3, 20), utc(2026, 4, 3)) == [
        utc(2026, 3, 23, 8),  # CET, before the last Sunday of March
        utc(2026, 3, 30, 7),  # CEST, after it
    ]
    assert handoffs(weekly, utc(2026, 10, 17), utc(2026, 10, 30)) == [
        utc(2026, 10, 19, 7),  # CEST
        utc(2026, 10, 26, 8),  # CET, after the last Sunday of October
    ]
    assert (
        who_is_on_call(weekly, [], utc(2026, 3, 30, 6, 59)).who
        != who_is_on_call(weekly, [], utc(2026, 3, 30, 7)).who
    )


def test_a_0230_handoff_on_the_spring_forward_day_happens_at_0330_summer_time() -> None:
    daily = rotation_schedule("1d", "02:30", date(2026, 3, 1), ["alice", "bob"])
    cuts = handoffs(daily, utc(2026, 3, 27, 12), utc(2026, 3, 31))
    # 02:30 does not exist on 29 March: the handoff is 02:30 CET = 03:30 CEST = 01:30 UTC.
    assert cuts == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    spans = [b - a for a, b in itertools.pairwise(cuts)]
    assert spans == [timedelta(hours=24), timedelta(hours=23)]


def test_a_0230_handoff_on_the_fall_back_day_happens_at_its_first_occurrence() -> None:
    daily = rotation_schedule("1d", "02:30", date(2026, 10, 1), ["alice", "bob"])
    cuts = handoffs(daily, utc(2026, 10, 23, 12), utc(2026, 10, 27))
    # 02:30 happens twice on 25 October: the first one (CEST, 00:30 UTC) is the handoff.
    assert cuts == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    spans = [b - a for a, b in itertools.pairwise(cuts)]
    assert spans == [timedelta(hours=24), timedelta(hours=25)]


def test_the_issue_example_stacks_evenings_on_the_weekly_rotation() -> None:
    primary = example().schedules["sre-primary"]
    monday_noon = utc(2026, 11, 30, 11)
    assert who_is_on_call(primary, [], monday_noon).who == "alice"
    assert who_is_on_call(primary, [], utc(2026, 11, 30, 19)).layer == 1
    # Saturday: the evening layer is restricted to weekdays, the weekly one answers.
    assert who_is_on_call(primary, [], utc(2026, 12, 5, 22)).layer == 0
    assert who_is_on_call(primary, [], utc(2026, 12, 7, 8)).who == "bob"
    # Before the weekly rotation starts, evenings only: nobody on a Sunday noon.
    nobody = who_is_on_call(primary, [], utc(2026, 11, 29, 12))
    assert nobody.who is None and nobody.layer is None


def test_an_override_wins_and_shifts_mark_it() -> None:
    primary = example().schedules["sre-primary"]
    swap = Override(
        id="o1",
        who="erin",
        start=utc(2026, 12, 1, 10),
        end=utc(2026, 12, 2, 10),
        by="alice",
        reason="swap",
    )
    assert who_is_on_call(primary, [swap], utc(2026, 12, 1, 20)).override == "o1"
    marked = [s for s in shifts(primary, [swap], utc(2026, 12, 1), utc(2026, 12, 3)) if s.override]
    assert [(s.start, s.end, s.who) for s in marked] == [(swap.start, swap.end, "erin")]


# ---- properties -----------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30]))


@st.composite
def layers(draw: st.DrawFn) -> Layer:
    every = draw(st.sampled_from(["1h", "6h", "12h", "1d12h", "1d", "2d", "1w", "2w"]))
    handoff = draw(clock)
    if every.endswith("w") and draw(st.booleans()):
        handoff = f"{draw(st.sampled_from(WEEKDAYS))} {handoff}"
    start = draw(st.none() | st.dates(date(2026, 1, 1), date(2027, 6, 1)))
    members = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4))
    restrict = draw(
        st.none()
        | st.builds(
            Restrict,
            days=st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
            from_=clock,
            to=clock,
        )
    )
    rotation = Rotation(every=every, handoff=handoff, start=start)
    return Layer(rotation=rotation, members=members, restrict=restrict)


schedules = st.builds(
    Schedule, timezone=st.sampled_from(ZONES), layers=st.lists(layers(), min_size=1, max_size=3)
)
instants = st.datetimes(datetime(2025, 10, 1), datetime(2027, 12, 31), timezones=st.just(UTC))


@st.composite
def override_lists(draw: st.DrawFn) -> list[Override]:
    """Overrides that do not overlap (the workflow refuses overlapping ones)."""
    start = draw(instants)
    result = []
    for i in range(draw(st.integers(0, 3))):
        start += timedelta(minutes=draw(st.integers(0, 20000)))
        end = start + timedelta(minutes=draw(st.integers(1, 20000)))
        result.append(
            Override(
                id=f"o{i}",
                who=draw(st.sampled_from(NAMES)),
                start=start,
                end=end,
                by="x",
                reason="r",
            )
        )
        start = end
    return result


@settings(max_examples=300, deadline=None)
@given(schedules, override_lists(), instants, st.floats(0, 1))
def test_one_person_or_nobody_overrides_win_and_layers_stack(
    schedule: Schedule, overrides: list[Override], anywhere: datetime, inside: float
) -> None:
    # Half the instants fall inside an override (a random instant seldom would).
    at = anywhere
    if overrides and inside < 0.5:
        chosen = overrides[int(inside * 2 * len(overrides))]
        at = chosen.start + (chosen.end - chosen.start) * inside
    clock_ = ScheduleClock(schedule)
    answer = clock_.on_call(at, overrides)
    covering = [o for o in overrides if o.covers(at)]
    per_layer = [layer.member(at) for layer in clock_.layers]
    if covering:
        assert (answer.who, answer.override) == (covering[-1].who, covering[-1].id)
    elif answer.who is None:
        assert per_layer == [None] * len(per_layer)  # nobody only where no layer has someone
    else:
        assert answer.layer is not None and answer.who in schedule.layers[answer.layer].members
        assert per_layer[answer.layer] == answer.who
        assert all(p is None for p in per_layer[answer.layer + 1 :])  # the later layer wins
    unrestricted = [
        layer
        for layer in schedule.layers
        if layer.restrict is None
        and (layer.rotation.start is None or layer.rotation.start + timedelta(days=15) <= at.date())
    ]
    if unrestricted:
        assert answer.who is not None


@settings(max_examples=150, deadline=None)
@given(schedules, override_lists(), instants, st.integers(1, 24 * 21))
def test_shifts_agree_with_who_is_on_call_at_every_instant_they_list(
    schedule: Schedule, overrides: list[Override], start: datetime, hours: int
) -> None:
    clock_ = ScheduleClock(schedule)
    end = start + timedelta(hours=hours)
    listed = clock_.shifts(start, end, overrides)
    assert listed[0].start == start and listed[-1].end == end
    for shift, following in itertools.pairwise(listed):
        assert shift.end == following.start
        assert (shift.who, shift.layer, shift.override) != (
            following.who,
            following.layer,
            following.override,
        )
    tick = timedelta(microseconds=1)
    for shift in listed:
        assert shift.start < shift.end
        for at in (shift.start, shift.start + (shift.end - shift.start) / 2, shift.end - tick):
            answer = clock_.on_call(at, overrides)
            assert (answer.who, answer.layer, answer.override) == (
                shift.who,
                shift.layer,
                shift.override,
            )


@settings(max_examples=200, deadline=None)
@given(layers(), st.sampled_from(ZONES), st.integers(-50, 400))
def test_a_handoff_starts_its_period_and_handoffs_only_move_forward(
    layer: Layer, zone: str, period: int
) -> None:
    rotation = ScheduleClock(Schedule(timezone=zone, layers=[layer])).layers[0]
    at = rotation.handoff(period)
    assert rotation.period(at) == period
    assert rotation.period(at - timedelta(microseconds=1)) == period - 1
    assert rotation.handoff(period + 1) > at
