"""Teams: `teams.yaml` maps group names to people, so approvals can say `group:sre`.

The file sits next to the runbooks (or wherever `$WARROOM_TEAMS` points) and reads

    sre: [alice, bob]
    payments-leads: [carol]

Groups are resolved to people when an incident is declared, so the workflow input says
exactly who may decide.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

from pydantic import Field, RootModel

from warroom.errors import RunbookError
from warroom.language.runbook import SLUG, Approver

TEAMS_FILE = "teams.yaml"

#: Group name → the people in it.
Teams = Mapping[str, Sequence[str]]


class TeamsFile(RootModel[dict[Annotated[str, Field(pattern=SLUG)], list[Approver]]]):
    """The contents of teams.yaml."""


def teams_path(runbook_path: Path | None) -> Path | None:
    """Where the teams of a runbook are: $WARROOM_TEAMS, else teams.yaml next to the runbook."""
    explicit = os.environ.get("WARROOM_TEAMS")
    if explicit:
        return Path(explicit)
    if runbook_path is None:
        return None
    candidate = runbook_path.parent / TEAMS_FILE
    return candidate if candidate.is_file() else None


def resolve_approvers(approvers: Sequence[str], teams: Teams) -> list[str]:
    """People who may approve: `group:NAME` expanded from `teams`, "*" kept, no repeats.

    Raises RunbookError naming the unknown group and the known ones.
    """
    people: list[str] = []
    for approver in approvers:
        if approver.startswith("group:"):
            group = approver.removeprefix("group:")
            if group not in teams:
                raise RunbookError(unknown_group(group, teams))
            members: Sequence[str] = teams[group]
        else:
            members = [approver]
        people += [p for p in members if p not in people]
    return people


def unknown_group(group: str, teams: Teams) -> str:
    known = ", ".join(sorted(teams)) or "none: add a teams.yaml next to the runbooks"
    return f"unknown group {group!r}; groups in teams.yaml: {known}"
