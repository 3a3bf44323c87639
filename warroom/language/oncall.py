"""On call: `oncall.yaml` says who is on call when (schedules) and who is paged in what order
(escalation policies).

The file sits next to the runbooks, people.yaml and teams.yaml (or wherever `$WARROOM_ONCALL`
points) and is validated as strictly as a runbook (file:line:col, did-you-mean):

    schedules:
      sre-primary:
        timezone: Europe/Berlin             # IANA; handoffs follow local time across DST
        layers:                             # a later layer wins where it has someone
          - rotation: {every: 1w, handoff: "mon 09:00", start: 2026-11-30}
            members: [alice, bob, carol]    # people.yaml names
          - rotation: {every: 1d, handoff: "18:00"}
            members: [dave, erin]
            restrict: {days: [mon, tue, wed, thu, fri], from: "18:00", to: "09:00"}
    policies:
      sre-default:
        levels:
          - {notify: [oncall: sre-primary], wait: 5m}
          - {notify: [oncall: sre-secondary, group: sre-leads], wait: 10m}
        repeat: 2                           # run the levels again, twice, if nobody acknowledged

What the rules mean in time is `warroom.language.oncall_time`; reading and checking the file,
`warroom.language.oncall_file` (this module is the models only: workflows import it). Overrides are not in the file:
they are durable decisions kept by each schedule's workflow (`workflows/schedule.py`).
"""

from __future__ import annotations

import difflib
import functools
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from warroom.language.durations import Duration, format_duration
from warroom.language.runbook import SLUG

SCHEMA_ID = "https://warroom.dev/schemas/oncall.json"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Shortest and longest rotation: shorter is a typo that would page someone every minute.
MIN_ROTATION = timedelta(hours=1)
MAX_ROTATION = timedelta(weeks=52)
#: Where a rotation without `start` counts from (a Monday; shifts are the same every cycle).
DEFAULT_START = date(2000, 1, 3)

Name = Annotated[str, Field(pattern=SLUG, max_length=100)]


def _did_you_mean(word: str, options: list[str]) -> str:
    # As warroom.language.checks.did_you_mean, which this module (imported by workflows)
    # does not import: checks reads teams.yaml's location from the environment.
    match = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _local_time(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"{value!r} is not a time of day: write HH:MM, e.g. 09:00 or 18:30")
    return value


LocalTime = Annotated[
    str,
    AfterValidator(_local_time),
    WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}),
]


def _handoff(value: str) -> str:
    day, _, clock = value.strip().rpartition(" ")
    if day and day.lower() not in WEEKDAYS:
        raise ValueError(
            f"{value!r}: {day!r} is not a weekday{_did_you_mean(day.lower(), list(WEEKDAYS))}: "
            'write "HH:MM" or "mon 09:00" (mon, tue, wed, thu, fri, sat, sun)'
        )
    _local_time(clock)
    return f"{day.lower()} {clock}" if day else clock


_ROTATION = re.compile(r"^(?:(\d{1,3})w)?(?:(\d{1,3})d)?(?:(\d{1,4})h)?(?:(\d{1,6})m)?(?:(\d+)s)?$")


def parse_rotation(value: Any) -> Any:
    """ "1w", "2d", "12h", "1d12h" → a timedelta between MIN_ROTATION and MAX_ROTATION."""
    if isinstance(value, timedelta) or not isinstance(value, str):
        return value
    found = _ROTATION.match(value.strip().replace(" ", ""))
    if not found or not any(found.groups()):
        raise ValueError(f"{value!r} is not a rotation length: write e.g. 1w, 2w, 1d or 12h")
    w, d, h, m, s = (int(g or 0) for g in found.groups())
    length = timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
    if length <= timedelta():
        raise ValueError(f"{value!r}: a rotation must be longer than zero (e.g. 1d or 1w)")
    if length < MIN_ROTATION:
        raise ValueError(f"{value!r}: a rotation lasts at least 1h")
    if length > MAX_ROTATION:
        raise ValueError(f"{value!r}: a rotation lasts at most 52w")
    return length


RotationLength = Annotated[
    timedelta,
    BeforeValidator(parse_rotation),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?$",
            "description": "1w, 1d, 12h",
        }
    ),
]


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"no time zone {value!r}{_did_you_mean(value, sorted(_zones()))}: "
            "use an IANA name such as Europe/Berlin, America/New_York or UTC"
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )


class Rotation(_Strict):
    """Who takes over when: every `every`, at `handoff` local time, counting from `start`."""

    every: RotationLength
    handoff: Annotated[
        str,
        AfterValidator(_handoff),
        WithJsonSchema({"type": "string", "description": '"09:00" or "mon 09:00"'}),
    ]
    start: date | None = None

    @property
    def weekday(self) -> int | None:
        day, _, _ = self.handoff.rpartition(" ")
        return WEEKDAYS.index(day) if day else None

    @property
    def clock(self) -> time:
        return time.fromisoformat(self.handoff.rpartition(" ")[2])


class Restrict(_Strict):
    """When a layer applies: from `from` on each of `days` until `to` (the next day when `to`
    is not later than `from`; the whole day when both are 00:00)."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    from_: LocalTime = Field("00:00", alias="from")
    to: LocalTime = "00:00"


class Layer(_Strict):
    rotation: Rotation
    members: Annotated[list[Name], Field(min_length=1, max_length=200)]
    restrict: Restrict | None = None


class Schedule(_Strict):
    """One rotation plan; every instant it has one person on call, or nobody where a layer is
    restricted and no layer below has someone."""

    timezone: TimeZone
    layers: Annotated[list[Layer], Field(min_length=1, max_length=20)]

    def members(self) -> list[str]:
        return list(dict.fromkeys(m for layer in self.layers for m in layer.members))


class Target(_Strict):
    """Whom a level notifies: whoever is on call for a schedule, a teams.yaml group, a person."""

    oncall: Name | None = None
    group: Name | None = None
    person: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> Target:
        if sum(x is not None for x in (self.oncall, self.group, self.person)) != 1:
            raise ValueError(
                "a target is one of {oncall: SCHEDULE}, {group: GROUP}, {person: NAME}"
            )
        return self


class PolicyLevel(_Strict):
    notify: Annotated[list[Target], Field(min_length=1, max_length=20)]
    wait: Duration


class Policy(_Strict):
    """Who is paged, level by level, until someone acknowledges."""

    levels: Annotated[list[PolicyLevel], Field(min_length=1, max_length=10)]
    repeat: Annotated[int, Field(ge=0, le=10, strict=True)] = 0


class OnCallFile(_Strict):
    """The contents of oncall.yaml."""

    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    policies: dict[Name, Policy] = Field(default_factory=dict)


class Override(_Strict):
    """Someone on call instead, from `start` until `end`, decided by `by` for `reason`."""

    id: Annotated[str, Field(min_length=1, max_length=100)]
    who: Name
    start: AwareDatetime
    end: AwareDatetime
    by: Annotated[str, Field(min_length=1, max_length=100)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


def oncall_json_schema() -> dict[str, Any]:
    """The JSON Schema of oncall.yaml, for editors (yaml-language-server)."""
    schema = OnCallFile.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
