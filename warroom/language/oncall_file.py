"""Reading and checking `oncall.yaml` (`warroom.language.oncall` has the models): where the
file is, strict loading like a runbook's (file:line:col, did-you-mean), the checks the schema
cannot do, and what a runbook names of it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from warroom.errors import RunbookError
from warroom.language.checks import Finding, did_you_mean
from warroom.language.durations import format_duration
from warroom.language.loader import catalogue_dirs, parse_document, read_limited
from warroom.language.oncall import WEEKDAYS, Layer, OnCallFile, Restrict, Target
from warroom.language.people import People, load_people, people_path
from warroom.language.runbook import Runbook
from warroom.language.teams import Teams

ONCALL_FILE = "oncall.yaml"


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


def oncall_people() -> People:
    """The people of the on-call file in use: people.yaml beside it (or $WARROOM_PEOPLE)."""
    found = find_oncall()
    return load_people(people_path(found.parent if found else None))


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
