"""`/warroom oncall [SCHEDULE]` (who is on call now), `/warroom oncall override SCHEDULE
--who … --from … --until … --reason …` and `/warroom oncall override cancel SCHEDULE ID
[reason]`, through the application calls the CLI and the API use (`warroom.oncall.schedules`).
A Slack user is the person people.yaml maps them to, with their role there (responder unless
it says): a responder may put themselves on call, nobody else (`may_override`), and cancel an
override that put them on call or that they made (`may_cancel_override`)."""

from __future__ import annotations

import functools
import shlex
from datetime import UTC, datetime

from pydantic import ValidationError
from temporalio.client import Client

from warroom.access.roles import Principal, may_cancel_override, may_override
from warroom.chat.mentions import person_named
from warroom.contract.oncall import OnCallAnswer
from warroom.errors import WarroomError
from warroom.language.oncall_time import local_text
from warroom.language.people import People
from warroom.oncall import schedules

USAGE = (
    "Usage: `/warroom oncall [SCHEDULE]` or `/warroom oncall override SCHEDULE --who NAME "
    '--from "2026-12-24 09:00" --until "2026-12-24 18:00" --reason TEXT` '
    "(times in the schedule's zone, or `now`)"
)
CANCEL_USAGE = (
    "Usage: `/warroom oncall override cancel SCHEDULE ID [reason]` (the id: as the override's "
    "answer said, or `/warroom oncall SCHEDULE` while it runs)"
)
OPTIONS = {"--who": "who", "--from": "from", "--until": "until", "--reason": "reason"}


async def now(client: Client, words: list[str], people: People) -> str:
    """Who is on call now for the schedule named (every schedule when none is)."""
    try:
        oncall = schedules.current_oncall()
        answers = await schedules.who_is_on_call(client, words, datetime.now(UTC), oncall)
    except WarroomError as err:
        return f"Cannot tell: {err}"
    zones = {n: s.timezone for n, s in oncall.schedules.items()}
    return "\n".join(_line(a, zones[a.schedule], people) for a in answers) or (
        "No schedules: add an oncall.yaml next to the runbooks"
    )


def _line(answer: OnCallAnswer, zone: str, people: People) -> str:
    who = people.display(answer.who) if answer.who else "nobody"
    until = f" until {local_text(answer.until, zone)}" if answer.until else ""
    why = (
        f" (override {answer.override.id} by {answer.override.by}: {answer.override.reason})"
        if answer.override
        else ""
    )
    return f"*{answer.schedule}*: {who}{until}{why}"


async def override(
    client: Client, text: str, principal: Principal, people: People
) -> tuple[bool, str]:
    """Put someone on call instead, as `principal` (`may_override`); (applied, what happened)."""
    person = principal.identity
    try:
        schedule, options = _parse(text)
        who = person_named(options["who"], people)
        may_override(principal, who)
        asked = schedules.ask_override(
            schedule,
            who=who,
            start=options["from"],
            end=options["until"],
            by=person,
            reason=options["reason"],
        )
        request, oncall, zone = asked.request, asked.oncall, asked.zone
        accepted = await schedules.add_override(client, schedule, request, oncall)
    except WarroomError as err:
        return False, f"Not applied: {err}"
    except ValidationError as err:
        return False, "Not applied: " + "; ".join(str(e["msg"]) for e in err.errors())
    except ValueError as err:  # shlex: an unclosed quote
        return False, f"Not applied: {err}. {USAGE}"
    o = accepted.override
    said = (
        f"{person}: override {o.id} on {schedule}: {people.display(o.who)} on call from "
        f"{local_text(o.start, zone)} until {local_text(o.end, zone)} ({o.reason})"
    )
    return True, said + (f"\n⚠️ {accepted.warning}" if accepted.warning else "")


async def cancel(
    client: Client, words: list[str], principal: Principal, people: People
) -> tuple[bool, str]:
    """Cancel an override, as `principal` (`may_cancel_override`); (applied, what happened)."""
    if len(words) < 2:
        return False, f"Not applied: name the schedule and the override. {CANCEL_USAGE}"
    schedule, override_id, reason = words[0], words[1], " ".join(words[2:])
    try:
        gone = await schedules.cancel_override(
            client,
            schedule,
            override_id,
            principal.identity,
            reason,
            allowed=functools.partial(may_cancel_override, principal),
        )
    except WarroomError as err:
        return False, f"Not applied: {err}"
    except ValidationError as err:
        return False, "Not applied: " + "; ".join(str(e["msg"]) for e in err.errors())
    why = f" ({reason})" if reason else ""
    said = (
        f"{principal.identity}: cancelled override {gone.id} on {schedule}: "
        f"{people.display(gone.who)} is no longer on call for it{why}"
    )
    return True, said


def _parse(text: str) -> tuple[str, dict[str, str]]:
    words = shlex.split(text)
    if not words or words[0].startswith("--"):
        raise WarroomError(f"name the schedule. {USAGE}")
    schedule, rest, options = words[0], words[1:], {}
    while rest:
        flag = rest.pop(0)
        if flag not in OPTIONS or not rest:
            raise WarroomError(f"{flag!r} is not an option with a value. {USAGE}")
        options[OPTIONS[flag]] = rest.pop(0)
    missing = [f for f, k in OPTIONS.items() if k not in options]
    if missing:
        raise WarroomError(f"missing {', '.join(missing)}. {USAGE}")
    return schedule, options
