"""A person named in a command: a warroom name, or a Slack mention (`<@U…>`, `<@U…|name>`) of
someone people.yaml knows."""

from __future__ import annotations

import re

from warroom.errors import WarroomError
from warroom.language.people import People

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def person_named(who: str, people: People) -> str:
    mention = MENTION.match(who)
    if mention is None:
        return who.lstrip("@")
    known = people.by_slack(mention.group(1))
    if known is None:
        raise WarroomError(f"Slack user {mention.group(1)} is not in people.yaml")
    return known
