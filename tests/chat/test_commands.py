"""`/warroom` slash commands on the dev server: the incident implied by its channel, changes
announced in the channel, reads and refusals only to the asker."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from tests.chat.conftest import DANA, ERIN, STRANGER, VERA, Room
from tests.chat.test_room_e2e import approval_message, open_room, refusal, responses_to, until
from warroom.entry.fakeslack import sign
from warroom.incidents import views

COMMANDS = "/v1/chat/slack/commands"


async def command(room: Room, user: str, text: str, channel: str) -> str:
    """Run `/warroom TEXT` as `user` in `channel`; the response_url it answers through."""
    url = room.slack.response_url()
    form = {
        "command": "/warroom",
        "text": text,
        "user_id": user,
        "channel_id": channel,
        "response_url": url,
        "trigger_id": f"t-{time.monotonic_ns()}",
    }
    body = urlencode(form).encode()
    started = time.monotonic()
    answer = await room.post(COMMANDS, body, sign(body))
    assert answer.status_code == 200 and time.monotonic() - started < 3
    return url


async def answer(room: Room, url: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = await until(
        lambda: responses_to(room, url), "the command's answer"
    )
    return found[0]


async def test_commands_in_the_room_and_by_incident_id(room: Room) -> None:
    incident, channel = await open_room(room, "e2e-commands")
    await until(lambda: approval_message(channel), "the approval message")

    said = await answer(room, await command(room, DANA, "ack", channel.id))
    assert said["response_type"] == "in_channel" and "ack" in said["text"]
    said = await answer(room, await command(room, DANA, "note rollback prepared", channel.id))
    assert said["response_type"] == "in_channel"
    said = await answer(room, await command(room, DANA, f"severity {incident} sev1", "COTHER"))
    assert said["response_type"] == "in_channel"
    mention = f"assign comms <@{ERIN}|erin>"
    said = await answer(room, await command(room, DANA, mention, channel.id))
    assert said["response_type"] == "in_channel", said["text"]

    state = await views.status(room.client, incident)
    assert state.milestones.acknowledged is not None and state.severity == "SEV1"
    assert state.roles["commander"] == "dana" and state.roles["comms"] == "erin"
    assert len([d for d in state.decisions if d.kind == "note" and not d.refused]) == 1

    status = await answer(room, await command(room, STRANGER, "status", channel.id))
    assert status["response_type"] == "ephemeral" and "SEV1" in status["text"]
    timeline = await answer(room, await command(room, STRANGER, "timeline", channel.id))
    assert timeline["response_type"] == "ephemeral" and "acknowledged" in timeline["text"]
    refused = await refusal(room, await command(room, STRANGER, "resolve done", channel.id))
    assert "not in people.yaml" in refused
    viewer = await refusal(room, await command(room, VERA, "resolve done", channel.id))
    assert "/warroom resolve needs the responder role; vera is a viewer" in viewer
    elsewhere = await answer(room, await command(room, DANA, "ack", "COTHER"))
    assert "no incident's room" in elsewhere["text"]
    helped = await answer(room, await command(room, DANA, "help", channel.id))
    assert "declare RUNBOOK SUMMARY" in helped["text"]

    # The card follows: SEV1, commander dana, acknowledged (its button gone).
    def card_now() -> str:
        return str(channel.message(channel.pins[0]))

    await until(lambda: "SEV1" in card_now() and "dana" in card_now(), "the card updated")
    assert "warroom.acknowledge" not in card_now()
    await until(lambda: channel.topic.startswith("SEV1 · "), "the topic")
    assert "commander dana" in channel.topic and incident in channel.topic

    said = await answer(room, await command(room, DANA, "resolve all good", channel.id))
    assert said["response_type"] == "in_channel"
    await until(lambda: channel.archived, "the close")
    assert (await views.status(room.client, incident)).status == "resolved"


async def test_declare_from_slack_opens_a_room(room: Room) -> None:
    before = len(room.slack.channels)
    said = await answer(room, await command(room, DANA, "declare roomed checkout is slow", "C0"))
    assert said["response_type"] == "in_channel" and "declared inc-" in said["text"]
    await until(lambda: len(room.slack.channels) > before, "a new channel")
    unknown = await answer(room, await command(room, DANA, "declare nosuch x", "C0"))
    assert "Not declared" in unknown["text"]


async def test_a_slack_retry_of_a_command_applies_once(room: Room) -> None:
    """A note repeated would be two notes: Slack's retry (same body) becomes the same update."""
    incident, channel = await open_room(room, "e2e-note-retried")
    form = {
        "command": "/warroom",
        "text": "note customers notified",
        "user_id": DANA,
        "channel_id": channel.id,
        "response_url": room.slack.response_url(),
    }
    body = urlencode(form).encode()
    first = await room.post(COMMANDS, body, sign(body))
    retried = await room.post(COMMANDS, body, {**sign(body), "X-Slack-Retry-Num": "1"})
    assert first.status_code == retried.status_code == 200
    await until(lambda: len(responses_to(room, form["response_url"])) == 2, "both answers")
    state = await views.status(room.client, incident)
    assert len([d for d in state.decisions if d.kind == "note"]) == 1
