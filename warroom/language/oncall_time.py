"""Who is on call when: a schedule's layers and its overrides, evaluated at an instant or over
a range. Pure functions (no clock, no I/O), so the schedule workflow answers queries with them.

The rules:
- A layer's rotation hands off every `every` at its `handoff` local time, starting at the
  first handoff on or after `start` (on the handoff's weekday, when it names one); before
  that the layer has nobody. Members take turns in the order listed.
- Rotations of whole days (1d, 1w, 2w...) follow the local calendar: a Monday 09:00 handoff in
  Europe/Berlin is 08:00 UTC in winter and 07:00 UTC in summer. Other lengths (12h, 1d12h)
  count elapsed time from the first handoff.
- A handoff at a local time that does not exist (02:30 on the spring-forward day) happens as
  if the clocks had not moved yet: 02:30 CET, which is 03:30 CEST (01:30 UTC), so that
  shift is one hour shorter on the clock. A local time that exists twice (02:30 on the
  fall-back day) means its first occurrence (02:30 CEST, 00:30 UTC); that day's shift is an
  hour longer. Python's `fold=0`, PEP 495.
- `restrict` masks a layer outside its windows; the rotation keeps turning underneath.
- A later layer wins wherever it has someone; an override wins over every layer. Where no
  layer has someone and no override applies, nobody is on call (`OnCall.who is None`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from warroom.language.oncall import DEFAULT_START, WEEKDAYS, Layer, Override, Schedule

DAY = timedelta(days=1)


@dataclass(frozen=True)
class OnCall:
    """Who is on call at an instant, and why: the layer (0-based) or the override's id."""

    who: str | None
    layer: int | None = None
    override: str | None = None


@dataclass(frozen=True)
class Shift:
    """`who` is on call from `start` until `end` (UTC), because of `layer` or `override`."""

    start: datetime
    end: datetime
    who: str | None
    layer: int | None = None
    override: str | None = None


def local_instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local date and time (fold=0: see the module's DST rules)."""
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def local_text(at: datetime, timezone: str) -> str:
    """ "Mon 07 Dec 09:00 CET": an instant as the schedule's people read it."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %H:%M %Z")


class _LayerClock:
    """One layer's handoffs and windows, precomputed for fast evaluation."""

    def __init__(self, layer: Layer, tz: ZoneInfo) -> None:
        rotation = layer.rotation
        self.tz = tz
        self.members = layer.members
        self.clock = rotation.clock
        self.bounded = rotation.start is not None
        anchor = rotation.start or DEFAULT_START
        if rotation.weekday is not None:
            anchor += timedelta(days=(rotation.weekday - anchor.weekday()) % 7)
        self.anchor = anchor
        self.every = rotation.every
        self.days = rotation.every.days if not rotation.every % DAY else 0
        self.first = local_instant(anchor, self.clock, tz)
        restrict = layer.restrict
        self.windows: tuple[frozenset[int], time, time, int] | None = None
        if restrict is not None:
            start, end = time.fromisoformat(restrict.from_), time.fromisoformat(restrict.to)
            days = frozenset(WEEKDAYS.index(d) for d in restrict.days)
            self.windows = (days, start, end, 1 if end <= start else 0)

    def handoff(self, period: int) -> datetime:
        if self.days:
            return local_instant(self.anchor + period * self.days * DAY, self.clock, self.tz)
        return self.first + period * self.every

    def period(self, at: datetime) -> int:
        """The number of the rotation period `at` falls in (0 from the first handoff on)."""
        if not self.days:
            return (at - self.first) // self.every
        today = at.astimezone(self.tz).date()
        period = (today - self.anchor).days // self.days
        return period - 1 if at < self.handoff(period) else period

    def member(self, at: datetime) -> str | None:
        if self.windows is not None and not self._in_window(at):
            return None
        period = self.period(at)
        if period < 0 and self.bounded:
            return None
        return self.members[period % len(self.members)]

    def _in_window(self, at: datetime) -> bool:
        assert self.windows is not None
        days, start, end, spill = self.windows
        today = at.astimezone(self.tz).date()
        for day in (today, today - DAY):
            if day.weekday() in days:
                opens = local_instant(day, start, self.tz)
                closes = local_instant(day + spill * DAY, end, self.tz)
                if opens <= at < closes:
                    return True
        return False

    def changes(self, start: datetime, end: datetime) -> Iterable[datetime]:
        """Every instant in (start, end) at which this layer's answer may change."""
        for period in range(self.period(start) + 1, self.period(end) + 1):
            yield self.handoff(period)
        if self.windows is not None:
            days, opens, closes, spill = self.windows
            day = start.astimezone(self.tz).date() - DAY
            last = end.astimezone(self.tz).date() + DAY
            while day <= last:
                if day.weekday() in days:
                    yield local_instant(day, opens, self.tz)
                    yield local_instant(day + spill * DAY, closes, self.tz)
                day += DAY


class ScheduleClock:
    """A schedule ready to answer many questions (build once, ask often)."""

    def __init__(self, schedule: Schedule) -> None:
        tz = ZoneInfo(schedule.timezone)
        self.layers = [_LayerClock(layer, tz) for layer in schedule.layers]

    def on_call(self, at: datetime, overrides: Sequence[Override] = ()) -> OnCall:
        _aware(at)
        for override in reversed(overrides):
            if override.covers(at):
                return OnCall(override.who, override=override.id)
        for index in range(len(self.layers) - 1, -1, -1):
            who = self.layers[index].member(at)
            if who is not None:
                return OnCall(who, layer=index)
        return OnCall(None)

    def shifts(
        self, start: datetime, end: datetime, overrides: Sequence[Override] = ()
    ) -> list[Shift]:
        """The shifts covering [start, end), in order; consecutive equal answers merged."""
        _aware(start)
        _aware(end)
        if end <= start:
            return []
        cuts = {start}
        for layer in self.layers:
            cuts.update(c for c in layer.changes(start, end) if start < c < end)
        for override in overrides:
            cuts.update(c for c in (override.start, override.end) if start < c < end)
        ordered = sorted(cuts)
        result: list[Shift] = []
        for begin, finish in zip(ordered, [*ordered[1:], end], strict=True):
            answer = self.on_call(begin, overrides)
            if result and (result[-1].who, result[-1].layer, result[-1].override) == (
                answer.who,
                answer.layer,
                answer.override,
            ):
                result[-1] = Shift(result[-1].start, finish, *_fields(answer))
            else:
                result.append(Shift(begin, finish, *_fields(answer)))
        return result


def _fields(answer: OnCall) -> tuple[str | None, int | None, str | None]:
    return answer.who, answer.layer, answer.override


def _aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone: give an aware datetime")


def who_is_on_call(
    schedule: Schedule | ScheduleClock, overrides: Sequence[Override], at: datetime
) -> OnCall:
    """Who is on call for `schedule` at `at` (an aware datetime), overrides included."""
    return _clock(schedule).on_call(at, overrides)


def shifts(
    schedule: Schedule | ScheduleClock,
    overrides: Sequence[Override],
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """The shifts of `schedule` from `start` until `end`, overrides included."""
    return _clock(schedule).shifts(start, end, overrides)


def _clock(schedule: Schedule | ScheduleClock) -> ScheduleClock:
    return schedule if isinstance(schedule, ScheduleClock) else ScheduleClock(schedule)
