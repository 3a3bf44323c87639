"""A schedule's shifts as a grid for people to scan: one row per local day, one cell per
local hour, each saying who is on call at the start of that hour and whether an override
put them there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from warroom.contract.oncall import Shifts
from warroom.language.oncall_time import local_instant


@dataclass(frozen=True)
class Cell:
    who: str | None
    override: str | None = None


@dataclass(frozen=True)
class GridDay:
    day: date
    cells: list[Cell]


def grid(listed: Shifts, first_day: date, days: int) -> list[GridDay]:
    """`days` local days from `first_day`, 24 cells each (a local hour that does not exist,
    on the spring-forward day, shows the hour after it)."""
    tz = ZoneInfo(listed.timezone)
    rows = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        cells = []
        for hour in range(24):
            at = local_instant(day, time(hour), tz)
            shift = next((s for s in listed.shifts if s.start <= at < s.end), None)
            if shift is None:
                cells.append(Cell(None))
            else:
                cells.append(Cell(shift.who, shift.override.id if shift.override else None))
        rows.append(GridDay(day, cells))
    return rows
