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

What the rules mean in time is `warroom.language.oncall_time`. Overrides are not in the file:
they are durable decisions kept by each schedule's workflow (`workflows/schedule.py`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
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

from warroom.errors import RunbookError
from warroom.language.checks import Finding, did_you_mean
from warroom.language.durations import Duration, format_duration
from warroom.language.loader import catalogue_dirs, parse_document, read_limited
from warroom.language.people import People, load_people, people_path
from warroom.language.runbook import SLUG, Runbook
from warroom.language.teams import Teams

ONCALL_FILE = "oncall.yaml"
SCHEMA_ID = "https://warroom.dev/schemas/oncall.json"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Shortest and longest rotation: shorter is a typo that would page someone every minute.
MIN_ROTATION = timedelta(hours=1)
MAX_ROTATION = timedelta(weeks=52)
#: Where a rotation without `start` counts from (a Monday; shifts are the same every cycle).
DEFAULT_START = date(2000, 1, 3)

Name = Annotated[str, Field(pattern=SLUG, max_length=100)]


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
            f"{value!r}: {day!r} is not a weekday{did_you_mean(day.lower(), WEEKDAYS)}: "
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
            f"no time zone {value!r}{did_you_mean(value, sorted(_zones()))}: "
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


# ---- finding and loading -----------------------------------------------------------------


def oncall_path(beside: Path | None) -> Path | None:
    """Where the on-call file is: $WARROOM_ONCALL, else oncall.yaml in the directory `beside`."""
    explicit = os.environ.get("WARROOM_ONCALL")
    if explicit:
        return Path(explicit)
    if beside is None:
        return None
    candidate = beside / ONCALL_FILE
    return candidate if candidate.is_file() else None


def find_oncall() -> Path | None:
    """The on-call file in use: $WARROOM_ONCALL, else the first oncall.yaml in the runbook
    directories (`--runbook NAME` search order), else None (no schedules)."""
    for directory in [None, *catalogue_dirs()]:
        path = oncall_path(directory)
        if path is not None:
            return path
    return None


def load_oncall(
    path: Path | None, people: People | None = None, teams: Teams | None = None
) -> OnCallFile:
    """Read oncall.yaml; no file means no schedules. Members and `person:` targets must be in
    the people file (people.yaml beside it unless `people` is given), `group:` targets in
    `teams` when given. Problems are reported like a runbook's (file:line:col)."""
    if path is None:
        return OnCallFile()
    if not path.is_file():
        raise RunbookError("no such on-call file ($WARROOM_ONCALL or oncall.yaml)", path=str(path))
    known = people if people is not None else load_people(people_path(path.parent))
    return parse_oncall(read_limited(path), str(path), known, teams)


def parse_oncall(
    text: str | bytes, path: str, people: People, teams: Teams | None = None
) -> OnCallFile:
    return parse_document(
        text, path, OnCallFile, check=lambda parsed: check_oncall(parsed, people, teams)
    )


def check_oncall(
    parsed: OnCallFile, people: People, teams: Teams | None = None
) -> Iterable[Finding]:
    """What the schema cannot see: unknown people, schedules and groups, weekday handoffs of
    rotations that are not whole weeks, layers hidden by one above, windows that never occur."""
    for name, schedule in parsed.schedules.items():
        for i, layer in enumerate(schedule.layers):
            where = ("schedules", name, "layers", i)
            for j, member in enumerate(layer.members):
                if people.get(member) is None:
                    yield Finding((*where, "members", j), _unknown_person(member, people))
            rotation = layer.rotation
            if rotation.weekday is not None and rotation.every % timedelta(weeks=1):
                yield Finding(
                    (*where, "rotation", "handoff"),
                    f"a weekday handoff ({rotation.handoff!r}) needs a rotation of whole weeks, "
                    f"not {format_duration(rotation.every)}: write every: 1w, or a handoff "
                    'without a day ("09:00")',
                )
            if layer.restrict is not None and not layer.restrict.days:
                yield Finding(
                    (*where, "restrict", "days"),
                    "this restrict window never occurs: list the days it applies on, "
                    "e.g. [mon, tue, wed, thu, fri], or remove restrict",
                )
            above = _covering_layer(schedule.layers, i)
            if above is not None:
                yield Finding(
                    (*where,),
                    f"layer {i + 1} is never on call: layer {above + 1} above it has someone at "
                    f"every instant from {_since(layer)} on; give layer {above + 1} a restrict "
                    "window, or remove this one",
                    at_key=True,
                )
    for name, policy in parsed.policies.items():
        for i, level in enumerate(policy.levels):
            for j, target in enumerate(level.notify):
                loc = ("policies", name, "levels", i, "notify", j)
                yield from _target_findings(target, loc, parsed, people, teams)


def _target_findings(
    target: Target,
    loc: tuple[str | int, ...],
    parsed: OnCallFile,
    people: People,
    teams: Teams | None,
) -> Iterable[Finding]:
    if target.oncall is not None and target.oncall not in parsed.schedules:
        known = ", ".join(sorted(parsed.schedules)) or "none"
        yield Finding(
            (*loc, "oncall"),
            f"unknown schedule {target.oncall!r}{did_you_mean(target.oncall, parsed.schedules)};"
            f" schedules here: {known}",
        )
    if target.person is not None and people.get(target.person) is None:
        yield Finding((*loc, "person"), _unknown_person(target.person, people))
    if target.group is not None and teams is not None and target.group not in teams:
        known = ", ".join(sorted(teams)) or "none"
        yield Finding(
            (*loc, "group"),
            f"unknown group {target.group!r}{did_you_mean(target.group, teams)}; "
            f"groups in teams.yaml: {known}",
        )


def _unknown_person(name: str, people: People) -> str:
    known = ", ".join(sorted(people.people)) or "nobody: add a people.yaml next to the runbooks"
    return f"unknown person {name!r}{did_you_mean(name, people.people)}; people.yaml lists: {known}"


def _covering_layer(layers: list[Layer], index: int) -> int | None:
    """The first layer above `index` that has someone at every instant `index` could."""
    start = layers[index].rotation.start
    for j in range(index + 1, len(layers)):
        above = layers[j]
        always = above.restrict is None or _whole_week(above.restrict)
        begins = above.rotation.start
        if always and (begins is None or (start is not None and begins <= start)):
            return j
    return None


def _whole_week(restrict: Restrict) -> bool:
    return set(restrict.days) == set(WEEKDAYS) and restrict.from_ == restrict.to


def _since(layer: Layer) -> str:
    start = layer.rotation.start
    return start.isoformat() if start else "its start"


def runbook_references(runbook: Runbook, oncall: OnCallFile) -> list[str]:
    """What a runbook names of the on-call file that it does not define: its escalation
    `policy`, its `oncall:SCHEDULE` approvers."""
    problems = []
    policy = runbook.escalation.policy if runbook.escalation else None
    if policy is not None and policy not in oncall.policies:
        known = ", ".join(sorted(oncall.policies)) or "none"
        problems.append(
            f"escalation policy {policy!r}{did_you_mean(policy, oncall.policies)} is not in "
            f"oncall.yaml (policies: {known})"
        )
    for step in runbook.steps:
        for approver in step.approval.approvers if step.approval else []:
            name = approver.removeprefix("oncall:")
            if approver.startswith("oncall:") and name not in oncall.schedules:
                known = ", ".join(sorted(oncall.schedules)) or "none"
                problems.append(
                    f"step {step.id!r}: approver {approver!r}: no schedule {name!r}"
                    f"{did_you_mean(name, oncall.schedules)} in oncall.yaml (schedules: {known})"
                )
    return problems


def oncall_json_schema() -> dict[str, Any]:
    """The JSON Schema of oncall.yaml, for editors (yaml-language-server)."""
    schema = OnCallFile.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
