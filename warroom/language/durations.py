"""Human durations in runbooks ("30s", "15m", "1h30m") as pydantic-validated timedeltas."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, ValidationInfo, WithJsonSchema

#: Longest duration a runbook may give: anything longer is a typo (`1000000000d`), not a plan.
MAX_DURATION = timedelta(days=30)
#: Longest duration read back from a workflow input (a runbook accepted before the limit
#: above existed must still decode); still far below what would overflow a timedelta.
MAX_READABLE = timedelta(days=36500)

#: Validation context the loader passes: load-time policy (bounds like MAX_DURATION, the
#: minimum cadence, approver names) applies only to runbooks being loaded, never to a
#: runbook decoded from a running incident's input, so an incident is never stranded by a
#: later, stricter rule.
AT_LOAD = {"warroom_at_load": True}


def at_load(info: ValidationInfo) -> bool:
    """Whether this validation is a runbook being loaded (policy bounds apply)."""
    return bool(info.context and info.context.get("warroom_at_load"))


_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_WHOLE = re.compile(r"^(?:\d+(?:ms|s|m|h|d))+$")


def parse_duration(text: str, limit: timedelta = MAX_DURATION) -> timedelta:
    """Parse "90s", "15m", "1h30m" into a timedelta; raise ValueError saying what to write."""
    compact = text.strip().replace(" ", "")
    if not _WHOLE.match(compact):
        raise ValueError(
            f"{_short(text)!r} is not a duration: write a number with a unit, e.g. 30s, 15m, 1h, 1h30m"
        )
    total = timedelta()
    for amount, unit in _PART.findall(compact):
        # Compare before building the timedelta: a huge number would overflow it.
        if len(amount) > 12 or (
            total + timedelta(**{_UNITS[unit]: min(int(amount), 10**6)}) > limit
        ):
            raise ValueError(
                f"{_short(text)!r} is longer than {format_duration(limit)}, "
                "the longest duration a runbook may give: write a shorter one"
            )
        total += timedelta(**{_UNITS[unit]: int(amount)})
    if total <= timedelta():
        raise ValueError(f"{text!r}: a duration must be longer than zero")
    return total


def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:29] + "…"


def format_duration(value: timedelta) -> str:
    """Render a timedelta the way runbooks write it ("1h30m", "45s", "250ms")."""
    ms = int(value.total_seconds() * 1000)
    if ms % 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _coerce(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value, MAX_DURATION if at_load(info) else MAX_READABLE)
    if isinstance(value, bool | int | float):
        raise ValueError(f"{value!r} has no unit: write it with one, e.g. {value}s or {value}m")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(\d+\s*(ms|s|m|h|d)\s*)+$",
            "description": f"A duration: 30s, 15m, 1h30m, 2d (at most {MAX_DURATION.days}d).",
        }
    ),
]
"""A timedelta that reads and writes the runbook notation ("15m") everywhere."""
