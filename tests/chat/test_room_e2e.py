"""End to end on the dev server: an Alertmanager notification opens an incident → its Slack
channel is created, the people invited, the card posted and pinned → the approval message is
posted (and DMed) → a click signed as Slack signs → the step runs → the message and the card
are updated → the incident closes → the channel is archived. Then the refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from activities.slack_blocks import ACKNOWLEDGE, APPROVE, REJECT
from tests.api.conftest import am
from tests.chat.conftest import DANA, ERIN, MALLORY, STRANGER, Room, buttons, click_body, sign, texts
from tests.chat.fakeslack import Channel
from warroom.incidents import views

INTERACTIONS = "/v1/chat/slack/interactions"


async def until(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def open_room(room: Room, group: str) -> tuple[str, Channel]:
    answer = await room.http.post(f"{room.url}/v1/alerts/alertmanager", json=am(group))
    assert answer.status_code in (200, 202), answer.text
    incident = answer.json()["incident_id"]
    short = "".join(c for c in incident if c.isalnum())[-6:]

    def channel() -> Channel | None:
        return next(
            (c for c in room.slack.channels.values() if c.name.endswith(short) and c.pins), None
        )

    return incident, await until(channel, "the incident's channel with its pinned card")


def approval_message(channel: Channel) -> dict[str, Any] | None:
    return next((m for m in channel.messages if APPROVE in buttons(m)), None)


async def click(room: Room, user: str, action: str, value: str, *, channel: str = "C1"):
    url = room.slack.response_url()
    body = click_body(user, action, value, url, channel=channel)
    started = time.monotonic()
    answer = await room.post(INTERACTIONS, body, sign(body))
    return answer, time.monotonic() - started, url


async def test_alert_to_room_click_to_archived(room: Room) -> None:
    slack = room.slack
    incident, channel = await open_room(room, "e2e-happy")
    assert channel.name.startswith("inc-") and "-roomed-" in channel.name
    assert len(channel.name) <= 80 and channel.name == channel.name.lower()
    assert incident in channel.topic and "SEV2" in channel.topic
    assert {DANA, ERIN} <= channel.members  # group:sre through teams.yaml and people.yaml
    card = slack.channels[channel.id].message(channel.pins[0])
    assert card is not None and "Checkout errors in the room" in texts(card)
    assert ACKNOWLEDGE in buttons(card)

    asking = await until(lambda: approval_message(channel), "the approval message")
    assert "Approval needed: rollback" in texts(asking) and "Quorum 0 of 1" in texts(asking)
    assert "Roll back the deploy" in texts(asking) and "within 10m" in texts(asking)

    def dmed() -> set[str]:
        return {c.id for c in list(slack.channels.values()) if c.id[0] == "D" and c.messages}

    await until(lambda: dmed() >= {"D" + DANA[1:], "D" + ERIN[1:]}, "the approvers' DMs")

    answer, took, _ = await click(room, DANA, APPROVE, buttons(asking)[APPROVE], channel=channel.id)
    assert answer.status_code == 200 and took < 3
    await until(lambda: "approved by dana" in texts(channel.message(asking["ts"]) or {}), "outcome")
    outcome = channel.message(asking["ts"])
    assert outcome is not None and not buttons(outcome)  # a decided gate has no buttons left
    assert "(1 of 1)" in texts(outcome)

    await until(lambda: channel.archived, "the channel archived at the close")
    final = channel.message(channel.pins[0])
    assert final is not None and "resolved" in texts(final) and not buttons(final)
    state = await views.status(room.client, incident)
    assert state.status == "resolved" and state.chat is not None
    assert state.chat.channel == channel.id and state.chat.card_ts == channel.pins[0]
    assert [d.by for d in state.decisions if d.kind == "approve" and not d.refused] == ["dana"]
    # One channel, one card: nothing posted twice.
    cards = [m for m in channel.messages if ACKNOWLEDGE in buttons(m) or m["ts"] in channel.pins]
    assert len(cards) == 1
