"""End to end on the dev server: an Alertmanager notification opens an incident → its Slack
channel is created, the people invited, the card posted and pinned → the approval message is
posted (and DMed) → a click signed as Slack signs → the step runs → the message and the card
are updated → the incident closes → the channel is archived. Then the refusals."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from activities.slack_blocks import (
    ACKNOWLEDGE,
    APPROVE,
    APPROVE_WITH_COMMENT,
    REJECT,
    RETRY,
    SKIP,
)
from tests.api.conftest import am
from tests.chat.conftest import DANA, ERIN, MALLORY, ROOM, STRANGER, VERA, Room
from warroom.contract.models import Decision, Resolve
from warroom.entry.fakeslack import Channel, buttons, click_body, sign, texts
from warroom.incidents import decisions, views
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook
from warroom.record.timeline import timeline

INTERACTIONS = "/v1/chat/slack/interactions"


async def until(check: Callable[[], Any], what: str, within: float = 20) -> Any:
    """What `check()` (or the awaitable it returns) gives once it is truthy."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
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
    for dm in (slack.channels["D" + DANA[1:]], slack.channels["D" + ERIN[1:]]):
        copy = dm.messages[0]  # the DMed copies follow the message: no stale buttons
        await until(lambda c=copy: "approved by dana" in texts(c), "the DM copy edited")
        assert not buttons(copy)

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


def responses_to(room: Room, url: str) -> list[dict[str, Any]]:
    path = url.removeprefix(room.slack.server.url)
    return [r for r in room.slack.responses if r["path"] == path]


async def refusal(room: Room, url: str) -> str:
    found = await until(lambda: responses_to(room, url), "the ephemeral refusal")
    assert found[0]["response_type"] == "ephemeral" and found[0]["replace_original"] is False
    return str(found[0]["text"])


async def test_refusals_apply_nothing(room: Room) -> None:
    incident, channel = await open_room(room, "e2e-refusals")
    asking = await until(lambda: approval_message(channel), "the approval message")
    value = buttons(asking)[APPROVE]
    url = room.slack.response_url()
    body = click_body(DANA, APPROVE, value, url)

    bad = await room.post(INTERACTIONS, body, sign(body, secret="not-the-signing-secret"))
    assert bad.status_code == 401 and "does not match" in bad.json()["error"]
    missing = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await room.post(INTERACTIONS, body, missing)).status_code == 401
    old = await room.post(INTERACTIONS, body, sign(body, at=time.time() - 6 * 60))
    assert old.status_code == 401 and "5 minutes" in old.json()["error"]
    junk = b"payload=%7Bnot+json"
    assert (await room.post(INTERACTIONS, junk, sign(junk))).status_code == 400
    foreign = click_body(DANA, APPROVE, '{"no": "incident"}', url)
    assert (await room.post(INTERACTIONS, foreign, sign(foreign))).status_code == 400

    answer, _, stranger_url = await click(room, STRANGER, APPROVE, value)
    assert answer.status_code == 200
    assert "not in people.yaml" in await refusal(room, stranger_url)
    _, _, viewer_url = await click(room, VERA, APPROVE, value)
    assert "needs the responder role; vera is a viewer" in await refusal(room, viewer_url)

    mallory_url = room.slack.response_url()
    mallory = click_body(MALLORY, APPROVE, value, mallory_url)
    headers = sign(mallory)
    assert (await room.post(INTERACTIONS, mallory, headers)).status_code == 200
    assert "not an approver" in await refusal(room, mallory_url)
    replayed = await room.post(INTERACTIONS, mallory, headers)
    assert replayed.status_code == 409 and "replay" in replayed.json()["error"]

    state = await views.status(room.client, incident)
    step = next(s for s in state.steps if s.id == "rollback")
    assert step.status == "awaiting_approval" and step.approved_by == []

    # Erin decides; then Dana's click on the same (now stale) button is refused.
    await click(room, ERIN, APPROVE, value)
    await until(lambda: "approved by erin" in texts(channel.message(asking["ts"]) or {}), "outcome")
    _, _, late_url = await click(room, DANA, APPROVE, value)
    assert "Not applied" in await refusal(room, late_url)
    state = await views.status(room.client, incident)
    step = next(s for s in state.steps if s.id == "rollback")
    assert step.approved_by == ["erin"]


async def test_a_slack_retry_of_a_click_decides_once(room: Room) -> None:
    incident, channel = await open_room(room, "e2e-retried")
    asking = await until(lambda: approval_message(channel), "the approval message")
    body = click_body(DANA, APPROVE, buttons(asking)[APPROVE], room.slack.response_url())
    first = await room.post(INTERACTIONS, body, sign(body))
    retry = await room.post(INTERACTIONS, body, {**sign(body), "X-Slack-Retry-Num": "1"})
    assert first.status_code == retry.status_code == 200
    await until(lambda: channel.archived, "the close")
    state = await views.status(room.client, incident)
    assert [d.by for d in state.decisions if d.kind == "approve"] == ["dana"]


async def comment_in_modal(
    room: Room, channel: Channel, button: str, comment: str
) -> dict[str, Any]:
    """Click `button` on the approval message, then type `comment` into the modal it opens
    and submit it, as Slack does (the modal closes: `{}`); the approval message."""
    asking = await until(lambda: approval_message(channel), "the approval message")
    opened = len(room.slack.views)
    await click(room, DANA, button, buttons(asking)[button], channel=channel.id)
    view = (await until(lambda: room.slack.views[opened:], "the modal"))[0]
    submitted = {
        "type": "view_submission",
        "user": {"id": DANA},
        "view": {
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {"reason": {"reason": {"value": comment}}}},
        },
    }
    body = urlencode({"payload": json.dumps(submitted)}).encode()
    answer = await room.post(INTERACTIONS, body, sign(body))
    assert answer.status_code == 200 and answer.json() == {}
    return asking


async def test_reject_asks_for_a_reason_in_a_modal(room: Room) -> None:
    incident, channel = await open_room(room, "e2e-reject")
    asking = await comment_in_modal(room, channel, REJECT, "error rate is falling")
    await until(lambda: channel.archived, "the close")
    outcome = texts(channel.message(asking["ts"]) or {})
    assert "rejected by dana: error rate is falling" in outcome
    assert (await views.status(room.client, incident)).status == "aborted"


async def test_approve_with_comment_asks_for_it_in_a_modal(room: Room) -> None:
    incident, channel = await open_room(room, "e2e-approve-comment")
    asking = await comment_in_modal(room, channel, APPROVE_WITH_COMMENT, "canary is clean")
    await until(lambda: channel.archived, "the close")
    assert "approved by dana (1 of 1): canary is clean" in texts(
        channel.message(asking["ts"]) or {}
    )
    state = await views.status(room.client, incident)
    approvals = [(d.by, d.comment) for d in state.decisions if d.kind == "approve"]
    assert approvals == [("dana", "canary is clean")] and state.status == "resolved"
    entries = await timeline(room.client, incident)
    approved = [e for e in entries if e.event.startswith("approve")]
    assert [(e.actor, e.authenticated) for e in approved] == [("dana", "slack")]


async def test_a_slack_error_retrying_cannot_fix_stops_the_room_not_the_incident(
    room: Room,
) -> None:
    room.slack.fail_next["auth.test"] = "invalid_auth"
    answer = await room.http.post(f"{room.url}/v1/alerts/alertmanager", json=am("e2e-broken"))
    incident = answer.json()["incident_id"]

    async def stopped() -> str | None:
        state = await views.status(room.client, incident)
        return state.chat.stopped if state.chat else None

    why = await until(stopped, "the room stopped")
    assert "invalid_auth" in why
    entries = await timeline(room.client, incident)
    assert any(e.event == "chat room stopped" and "invalid_auth" in e.detail for e in entries)
    # The incident goes on without its room: it still takes a decision and closes.
    await decisions.send(room.client, incident, "approve", Decision(step="rollback", by="dana"))
    await room.client.get_workflow_handle(incident).result()
    assert (await views.status(room.client, incident)).status == "resolved"


async def test_status_updates_are_posted_in_the_channel_on_cadence(room: Room) -> None:
    runbook = parse_runbook(ROOM, teams={"sre": ["dana", "erin"]})
    fast = {sev: timedelta(seconds=2) for sev in ("SEV1", "SEV2", "SEV3", "SEV4")}
    runbook = runbook.model_copy(update={"cadence": fast})  # below the language's floor
    incident = await declare(room.client, runbook, "cadence", declared_by="carol")
    short = "".join(c for c in incident if c.isalnum())[-6:]

    def updates() -> list[dict[str, Any]]:
        found = [c for c in list(room.slack.channels.values()) if c.name.endswith(short)]
        return [m for c in found for m in c.messages if "Status update" in m.get("text", "")]

    posted = await until(lambda: len(updates()) >= 2 and updates(), "two status updates")
    assert "SEV2 · awaiting approval · phase mitigate" in posted[0]["text"]
    assert "waiting for approval: rollback" in posted[0]["text"]
    await decisions.send(room.client, incident, "resolve", Resolve(by="dana"))
    state = await views.status(room.client, incident)
    assert state.chat is not None and state.chat.updates >= 2


async def test_acknowledge_on_the_card(room: Room) -> None:
    incident, channel = await open_room(room, "e2e-ack")
    card = channel.message(channel.pins[0])
    assert card is not None
    answer, took, _ = await click(room, ERIN, ACKNOWLEDGE, buttons(card)[ACKNOWLEDGE])
    assert answer.status_code == 200 and took < 3
    await until(lambda: ACKNOWLEDGE not in buttons(channel.message(channel.pins[0]) or {}), "ack")
    state = await views.status(room.client, incident)
    assert state.milestones.acknowledged is not None
    assert [d.by for d in state.decisions if d.kind == "acknowledge"] == ["erin"]
    await decisions.send(room.client, incident, "resolve", Resolve(by="erin"))


FAILING = """
name: failing
title: A step fails and waits
chat: {slack: {channel: create}}
steps:
  - id: flaky
    phase: mitigate
    action: http.request
    with: {url: "http://127.0.0.1:9/nothing-listens"}
    retry: {max_attempts: 1}
    on_failure: pause
"""


async def test_a_paused_step_is_skipped_by_button(room: Room) -> None:
    incident = await declare(room.client, parse_runbook(FAILING), "paused", declared_by="carol")
    short = "".join(c for c in incident if c.isalnum())[-6:]

    def asking_skip() -> tuple[Channel, dict[str, Any]] | None:
        for channel in list(room.slack.channels.values()):
            if channel.name.endswith(short):
                for message in channel.messages:
                    if SKIP in buttons(message):
                        return channel, message
        return None

    channel, message = await until(asking_skip, "the Retry / Skip message")
    assert RETRY in buttons(message) and "flaky failed" in texts(message)
    await click(room, DANA, SKIP, buttons(message)[SKIP], channel=channel.id)
    await until(lambda: "skipped by dana" in texts(channel.message(message["ts"]) or {}), "skip")
    await until(lambda: channel.archived, "the close")
    state = await views.status(room.client, incident)
    assert next(s for s in state.steps if s.id == "flaky").status == "skipped"


async def test_a_fixed_channel_named_by_id(room: Room) -> None:
    fixed = room.slack.add_channel("payments-incidents")
    runbook = parse_runbook(ROOM.replace("channel: create", f"channel: {fixed.id}"))
    looked_up = room.slack.methods().count("conversations.list")
    incident = await declare(room.client, runbook, "by id", declared_by="carol")
    await until(lambda: fixed.pins, "the card pinned in the fixed channel")
    await until(lambda: approval_message(fixed), "the approval message in it")
    await decisions.send(room.client, incident, "resolve", Resolve(by="dana"))
    await room.client.get_workflow_handle(incident).result()
    await until(lambda: "resolved" in texts(fixed.message(fixed.pins[0]) or {}), "final card")
    state = await views.status(room.client, incident)
    assert state.chat is not None and state.chat.channel == fixed.id and not fixed.archived
    assert room.slack.methods().count("conversations.list") == looked_up  # no name lookup

    nowhere = parse_runbook(ROOM.replace("channel: create", "channel: C0NOWHERE1"))
    lost = await declare(room.client, nowhere, "nowhere", declared_by="carol")

    async def stopped() -> str | None:
        state = await views.status(room.client, lost)
        return state.chat.stopped if state.chat else None

    assert "channel_not_found" in await until(stopped, "the room stopped")
    await decisions.send(room.client, lost, "resolve", Resolve(by="dana"))
