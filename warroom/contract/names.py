"""Early checks of CLI arguments that name things (incident ids, step ids, people).

A value that cannot name anything is refused before any server is asked, with a message
saying what to write instead; free text (summaries, comments) is left to the models' limits.
"""

from __future__ import annotations

import re

from warroom.errors import WarroomError
from warroom.language.runbook import SLUG
from warroom.text import escape

#: Workflow id = incident id = `inc-<slug>` (DESIGN.md §3); Temporal caps ids at 1,000 bytes.
INCIDENT_ID = re.compile(r"inc-[A-Za-z0-9][A-Za-z0-9._:-]{0,250}")
NAME_MAX = 200


class InvalidArgument(WarroomError):
    """An argument that cannot be what it names."""


def _shown(value: str) -> str:
    return repr(value[:60] + ("…" if len(value) > 60 else ""))


def incident_id(value: str) -> str:
    if not INCIDENT_ID.fullmatch(value):
        problem = "is empty" if not value else f"{_shown(value)} is not an incident id"
        raise InvalidArgument(
            f"incident id {problem}: write the id `warroom list` shows, "
            "like inc-demo-checkout-20261125-101500-ab12"
        )
    return value


def step_id(value: str) -> str:
    if not re.fullmatch(SLUG, value):
        problem = "is empty" if not value else f"{_shown(value)} is not a step id"
        raise InvalidArgument(
            f"step id {problem}: write a step id from the runbook (lowercase letters, digits, "
            "`-` and `_`); `warroom show ID` lists them"
        )
    return value


def person(value: str | None) -> str | None:
    """`--by`: who decides, as one short line of text (None: the option was not given)."""
    if value is None:
        return None
    if not value.strip():
        problem = "is empty"
    elif escape(value) != value:
        problem = f"{_shown(value)} holds control characters or line breaks"
    elif len(value) > NAME_MAX:
        problem = f"is {len(value)} characters long (at most {NAME_MAX})"
    else:
        return value
    raise InvalidArgument(f"--by {problem}: write a person's name, like --by dana-oncall")
