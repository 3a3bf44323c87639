"""`/warroom` slash commands (`POST /v1/chat/slack/commands`). In an incident's channel the
incident is implied; elsewhere name it: `/warroom ack inc-…`. Answers are ephemeral unless
the command changed the incident (then the channel sees who did what)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client

from warroom.access.roles import Role, RoleRequired, chat_principal, require
from warroom.chat import oncall, replies
from warroom.chat.deciding import decide
from warroom.chat.mentions import person_named
from warroom.chat.rooms import Rooms
from warroom.errors import WarroomError
from warroom.incidents import views
from warroom.incidents.declare import Declaration, catalogue_entry, declare_entry
from warroom.language.catalogue import Catalogue
from warroom.language.people import People
from warroom.record.timeline import timeline

HELP = """*/warroom* commands (in an incident's channel, or with the incident id after the command):
• `ack` — acknowledge the incident
• `note TEXT` — add a note to the timeline
• `severity SEV1` — change the severity
• `assign commander|comms|ops @user` — give someone a role
• `resolve [comment]` — resolve the incident
• `status` — the incident's state (only you see it)
• `timeline` — its last 10 entries (only you see them)
• `declare RUNBOOK SUMMARY` — open an incident on a runbook
• `oncall [SCHEDULE]` — who is on call now (only you see it)
• `oncall override SCHEDULE --who NAME --from TIME --until TIME --reason TEXT` — put yourself on call
• `oncall override cancel SCHEDULE ID [reason]` — cancel an override that put you on call or that you made
• `help` — this list"""
#: Commands that change the incident: command → decision word.
CHANGES = {w: w for w in ("ack", "note", "severity", "assign", "resolve")}
READS = {"status", "timeline", "oncall"}
#: `oncall override …` (two words: no single word typed reaches it).
OVERRIDE = "oncall override"
CANCEL = "oncall override cancel"


@dataclass
class Command:
    text: str
    user: str
    channel: str
    response_url: str | None
    raw: bytes


async def run(
    cmd: Command,
    people: People,
    rooms: Rooms,
    client: Callable[[], Awaitable[Client]],
    catalogue: Catalogue | None,
) -> None:
    """Do the command and answer through its response_url."""
    words = cmd.text.split()
    name = words[0].lower() if words else "help"
    rest = words[1:]
    if name == "oncall" and rest[:1] == ["override"]:
        name, rest = OVERRIDE, rest[1:]
    # (`override cancel --who …` is an override of a schedule named cancel)
    if name == OVERRIDE and rest[:1] == ["cancel"] and not "".join(rest[1:2]).startswith("--"):
        name, rest = CANCEL, rest[1:]
    if name == "help" or name not in {*CHANGES, *READS, "declare", OVERRIDE, CANCEL}:
        prefix = "" if name == "help" else f"Unknown command {name!r}.\n"
        return await replies.respond(cmd.response_url, prefix + HELP)
    person = people.by_slack(cmd.user)
    principal = chat_principal(people, person)
    if name not in READS:
        if principal is None:
            return await replies.respond(
                cmd.response_url,
                f"Not applied: Slack user {cmd.user} is not in people.yaml: you can read, not decide",
            )
        try:
            require(principal, Role.responder, f"/warroom {name}")
        except RoleRequired as err:
            return await replies.respond(cmd.response_url, f"Not applied: {err}")
    temporal = await client()
    if name == "oncall":
        return await replies.respond(cmd.response_url, await oncall.now(temporal, rest, people))
    if name == OVERRIDE:
        text = cmd.text.split(None, 2)[2] if len(words) > 2 else ""
        assert principal is not None  # checked above: not a read
        applied, said = await oncall.override(temporal, text, principal, people)
        return await replies.respond(cmd.response_url, said, in_channel=applied)
    if name == CANCEL:
        assert principal is not None  # checked above: not a read
        applied, said = await oncall.cancel(temporal, rest, principal, people)
        return await replies.respond(cmd.response_url, said, in_channel=applied)
    if name == "declare":
        return await _declare(cmd, rest, person or "", temporal, catalogue)
    if rest and rest[0].startswith("inc-"):
        incident: str | None = rest.pop(0)
    else:
        incident = await rooms.incident_of(temporal, cmd.channel)
    if incident is None:
        return await replies.respond(
            cmd.response_url,
            f"This channel is no incident's room: name the incident, `/warroom {name} inc-…`",
        )
    if name in READS:
        return await replies.respond(cmd.response_url, await _read(name, temporal, incident))
    fields = _fields(name, rest, people)
    if isinstance(fields, str):
        return await replies.respond(cmd.response_url, fields)
    applied, said = await decide(temporal, incident, CHANGES[name], person or "", fields, cmd.raw)
    await replies.respond(cmd.response_url, said, in_channel=applied)


def _fields(name: str, rest: list[str], people: People) -> dict[str, object] | str:
    text = " ".join(rest)
    if name == "note":
        return {"text": text} if text else "Usage: `/warroom note TEXT`"
    if name == "severity":
        return {"severity": text.upper()} if text else "Usage: `/warroom severity SEV1`"
    if name == "resolve":
        return {"comment": text}
    if name == "assign":
        if len(rest) != 2:
            return "Usage: `/warroom assign commander|comms|ops @user`"
        role, who = rest
        try:
            return {"role": role.lower(), "to": person_named(who, people)}
        except WarroomError as err:
            return str(err)
    return {}


async def _read(name: str, client: Client, incident: str) -> str:
    try:
        if name == "status":
            s = await views.status(client, incident)
            waiting = ", ".join(p.id for p in s.pending_approvals) or "none"
            commander = s.roles.get("commander", "nobody yet")
            return (
                f"*{s.title}* (`{s.incident_id}`)\n{s.severity} · {s.status.replace('_', ' ')} · "
                f"phase {s.phase} · commander {commander} · waiting for approval: {waiting}"
            )
        entries = (await timeline(client, incident))[-10:]
    except WarroomError as err:
        return f"Cannot read {incident}: {err}"
    lines = [
        f"`{e.time:%H:%M:%S}` {e.event}{' ' + e.step if e.step else ''}"
        f"{' — ' + e.detail if e.detail else ''}{' (' + e.actor + ')' if e.actor else ''}"
        for e in entries
    ]
    return "\n".join(lines) or "nothing yet"


async def _declare(
    cmd: Command, rest: list[str], person: str, client: Client, catalogue: Catalogue | None
) -> None:
    if len(rest) < 2 or catalogue is None:
        return await replies.respond(cmd.response_url, "Usage: `/warroom declare RUNBOOK SUMMARY`")
    try:
        entry = catalogue_entry(catalogue, rest[0])
        declared = await declare_entry(
            client, entry, Declaration(runbook=rest[0], summary=" ".join(rest[1:])), person
        )
    except WarroomError as err:
        return await replies.respond(cmd.response_url, f"Not declared: {err}")
    await replies.respond(
        cmd.response_url,
        f"{person} declared {declared.incident_id} on {declared.runbook}",
        in_channel=True,
    )
