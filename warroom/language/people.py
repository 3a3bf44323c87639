"""People: `people.yaml` says how to reach each person warroom knows by name.

The file sits next to the runbooks and teams.yaml (or wherever `$WARROOM_PEOPLE` points):

    dana-oncall:
      name: Dana Ortiz                # shown in messages; the key is the warroom name
      slack: U024BE7LH                # Slack user id (maps Slack clicks/commands to dana-oncall)
      email: dana@example.com
      pagerduty: PD_KEY_DANA          # env var holding a PagerDuty Events v2 routing key
      webhook: https://sms.example.com/hooks/dana   # a generic gateway (SMS, voice)
      contact: [slack, pagerduty]     # the order to reach them in (default: as listed above)
      role: responder                 # what they may do from Slack: viewer, responder (default), admin

One place for identities: chat maps Slack user ids to warroom names through it (both
directions; an unknown Slack user can read but not decide), on-call pages people through
their contact methods in `contact` order, and sign-in can map an e-mail to a name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from warroom.errors import RunbookError
from warroom.language.checks import Finding
from warroom.language.loader import parse_document, read_limited
from warroom.language.runbook import SLUG

PEOPLE_FILE = "people.yaml"

ContactMethod = Literal["slack", "email", "pagerduty", "webhook"]
CONTACT_METHODS: tuple[ContactMethod, ...] = ("slack", "email", "pagerduty", "webhook")


class Person(BaseModel):
    """One person's display name and contact methods."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    slack: Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,20}$")] | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)] | None = (
        None
    )
    pagerduty: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")] | None = None
    webhook: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)] | None = None
    contact: list[ContactMethod] | None = None
    #: What the person may do from chat (Slack), where no other credential says:
    #: viewer (read), responder (decide, the default), admin.
    role: Literal["viewer", "responder", "admin"] = "responder"

    def methods(self) -> list[ContactMethod]:
        """The contact methods to try, in order: `contact`, else every one configured."""
        if self.contact is not None:
            return list(self.contact)
        return [m for m in CONTACT_METHODS if getattr(self, m) is not None]


Name = Annotated[str, Field(pattern=SLUG, max_length=100)]


class PeopleFile(RootModel[dict[Name, Person]]):
    """The contents of people.yaml."""


class People:
    """The people file, looked up by warroom name, Slack user id or e-mail."""

    def __init__(self, people: Mapping[str, Person] | None = None) -> None:
        self.people: dict[str, Person] = dict(people or {})
        self._by_slack = {p.slack: n for n, p in self.people.items() if p.slack}
        self._by_email = {p.email.lower(): n for n, p in self.people.items() if p.email}

    def get(self, name: str) -> Person | None:
        return self.people.get(name)

    def display(self, name: str) -> str:
        """A person's display name, or the warroom name when none is set."""
        person = self.people.get(name)
        return person.name if person and person.name else name

    def by_slack(self, user_id: str) -> str | None:
        """The warroom name of a Slack user id, or None for someone unknown."""
        return self._by_slack.get(user_id)

    def by_email(self, email: str) -> str | None:
        return self._by_email.get(email.lower())

    def slack_id(self, name: str) -> str | None:
        person = self.people.get(name)
        return person.slack if person else None


def people_path(beside: Path | None) -> Path | None:
    """Where the people file is: $WARROOM_PEOPLE, else people.yaml in the directory `beside`."""
    explicit = os.environ.get("WARROOM_PEOPLE")
    if explicit:
        return Path(explicit)
    if beside is None:
        return None
    candidate = beside / PEOPLE_FILE
    return candidate if candidate.is_file() else None


def load_people(path: Path | None) -> People:
    """Read people.yaml; no file means nobody is known. Problems are reported like a
    runbook's (file:line:col)."""
    if path is None:
        return People()
    if not path.is_file():
        raise RunbookError("no such people file ($WARROOM_PEOPLE or people.yaml)", path=str(path))
    parsed = parse_document(read_limited(path), str(path), PeopleFile, check=_check)
    return People(parsed.root)


def _check(parsed: PeopleFile) -> Iterable[Finding]:
    seen: dict[str, str] = {}
    for name, person in parsed.root.items():
        for method in person.contact or ():
            if getattr(person, method) is None:
                yield Finding(
                    (name, "contact"),
                    f"{name} lists contact method {method!r} but has no {method}: "
                    f"add `{method}: …` or remove it from contact",
                )
        if person.slack:
            if person.slack in seen:
                yield Finding(
                    (name, "slack"),
                    f"Slack user {person.slack} is both {seen[person.slack]} and {name}",
                )
            seen[person.slack] = name


def find_people() -> People:
    """The people warroom knows: $WARROOM_PEOPLE, else the first runbook directory (see
    `runbook_dirs`) that has a people.yaml; nobody when there is none."""
    from warroom.language.loader import runbook_dirs

    for directory in runbook_dirs():
        path = people_path(directory)
        if path is not None:
            return load_people(path)
    return People()
