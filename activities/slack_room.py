"""The incident room's activities: open the channel (created once, found again on a retry),
post and pin the card, post the step messages (and DM the approvers), edit them as the
incident changes, archive or rename the channel at the close. Each is safe to run again: a
retry after a worker died finds the channel or message it already made instead of making
another."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.slack_api import ERROR_TYPE, call, error_code, posted, web_client
from activities.slack_blocks import (
    MAX_TEXT,
    card_blocks,
    card_id,
    card_text,
    cut,
    status_blocks,
    step_blocks,
    step_id,
    step_text,
    topic,
    update_id,
)
from warroom.contract.chat import (
    CARD,
    CLOSE,
    OPEN,
    POST,
    STEP,
    Card,
    CloseRoom,
    OpenedRoom,
    OpenRoom,
    StatusPost,
    StepMessage,
    StepPosted,
)
from warroom.language.loader import load_teams_for, runbook_dirs
from warroom.language.people import People, find_people
from warroom.language.runbook import is_channel_id
from warroom.language.teams import resolve_approvers

#: Suffixes tried when a channel name is taken by someone else (-2 … -9).
SUFFIXES = 9


def channel_name(req: OpenRoom) -> str:
    """`inc-<date>-<runbook>-<short id>`: lowercase letters, digits and -, at most 80."""
    short = re.sub(r"[^a-z0-9]", "", req.incident_id.lower())[-6:]
    runbook = re.sub(r"[^a-z0-9_-]+", "-", req.runbook.lower()).strip("-_")
    head = f"inc-{req.started_at:%Y%m%d}-"
    runbook = runbook[: 80 - len(head) - len(short) - 3]  # room for "-<short>" and a suffix
    return f"{head}{runbook}-{short}"


@activity.defn(name=OPEN)
async def open_room(req: OpenRoom) -> OpenedRoom:
    client = web_client()
    if is_channel_id(req.channel):
        # Used as it is: Slack refuses the first post in it (`channel_not_found`,
        # `not_in_channel`) with a final error, as it refuses a named channel's.
        return OpenedRoom(channel=req.channel, name=req.channel)
    if req.channel != "create":
        name = req.channel.lstrip("#")
        found = await _find_channel(client, name)
        if found is None:
            raise ApplicationError(
                f"Slack channel #{name} not found (runbook chat.slack.channel)",
                {"code": "channel_not_found"},
                type=ERROR_TYPE,
                non_retryable=True,
            )
        return OpenedRoom(channel=found["id"], name=name)
    bot = (await call(client, "auth.test"))["user_id"]
    base = channel_name(req)
    for n in range(1, SUFFIXES + 1):
        name = base if n == 1 else f"{base}-{n}"
        found = await _find_channel(client, name)
        if found is not None:
            if found.get("creator") == bot and not found.get("is_archived"):
                channel = found  # made by an earlier attempt of this activity
                break
            continue  # someone else's, or an earlier run's archived room
        try:
            channel = (await call(client, "conversations.create", name=name))["channel"]
        except ApplicationError as err:
            if error_code(err) == "name_taken":
                continue
            raise
        break
    else:
        raise ApplicationError(
            f"Slack channel names {base} to {base}-{SUFFIXES} are all taken",
            {"code": "name_taken"},
            type=ERROR_TYPE,
            non_retryable=True,
        )
    room = OpenedRoom(channel=channel["id"], name=name)
    about = topic(req.severity, req.status, req.title, req.incident_id, None)
    await call(client, "conversations.setTopic", channel=room.channel, topic=about)
    users = _slack_ids(req.invite)
    if users:
        try:
            await call(client, "conversations.invite", channel=room.channel, users=",".join(users))
        except ApplicationError as err:
            if error_code(err) != "already_in_channel":
                raise
    return room


@activity.defn(name=CARD)
async def post_card(card: Card) -> str:
    """Post (and pin) the card, or edit it; its `ts`."""
    client = web_client()
    message = {"text": card_text(card), "blocks": card_blocks(card)}
    ts = card.ts or await posted(client, card.channel, card_id(card.incident_id))
    if ts:
        await call(client, "chat.update", channel=card.channel, ts=ts, **message)
    else:
        ts = str((await call(client, "chat.postMessage", channel=card.channel, **message))["ts"])
        try:
            await call(client, "pins.add", channel=card.channel, timestamp=ts)
        except ApplicationError as err:
            if error_code(err) != "already_pinned":
                raise
    if card.set_topic:
        about = topic(card.severity, card.status, card.title, card.incident_id, card.commander)
        await call(client, "conversations.setTopic", channel=card.channel, topic=about)
    return ts


@activity.defn(name=STEP)
async def post_step(msg: StepMessage) -> StepPosted:
    """Post a step's message (and DM `notify` a copy), or edit it and its copies to what the
    step shows now."""
    client = web_client()
    message = {"text": step_text(msg), "blocks": step_blocks(msg)}
    ts = msg.ts or await posted(client, msg.channel, step_id(msg.incident_id, msg.step))
    if ts:
        await call(client, "chat.update", channel=msg.channel, ts=ts, **message)
        for channel, copy in msg.copies:
            try:
                await call(client, "chat.update", channel=channel, ts=copy, **message)
            except ApplicationError as err:
                if not err.non_retryable:
                    raise  # a copy that is gone is no reason to stop the room
        return StepPosted(ts=ts, copies=msg.copies)
    ts = str((await call(client, "chat.postMessage", channel=msg.channel, **message))["ts"])
    copies = []
    for user in _slack_ids(msg.notify):
        sent = await call(client, "chat.postMessage", channel=user, **message)
        copies.append((str(sent["channel"]), str(sent["ts"])))
    return StepPosted(ts=ts, copies=copies)


@activity.defn(name=POST)
async def post_status(post: StatusPost) -> str:
    """A status update in the channel (once, across retries: found again by its block id)."""
    client = web_client()
    block_id = update_id(post.incident_id, post.number)
    ts = await posted(client, post.channel, block_id)
    if ts:
        return ts
    message = {"text": cut(post.text, MAX_TEXT), "blocks": status_blocks(post)}
    return str((await call(client, "chat.postMessage", channel=post.channel, **message))["ts"])


@activity.defn(name=CLOSE)
async def close_room(req: CloseRoom) -> None:
    client = web_client()
    try:
        if req.at_close == "archive":
            await call(client, "conversations.archive", channel=req.channel)
        elif req.at_close == "rename":
            name = f"{req.name[:71]}-resolved"
            await call(client, "conversations.rename", channel=req.channel, name=name)
    except ApplicationError as err:
        if error_code(err) not in ("already_archived", "name_taken"):
            raise


SLACK_ROOM_ACTIVITIES: list[Callable[..., Any]] = [
    open_room,
    post_card,
    post_step,
    post_status,
    close_room,
]


async def _find_channel(client: AsyncWebClient, name: str) -> dict[str, Any] | None:
    cursor = ""
    for _ in range(50):
        args: dict[str, Any] = {"limit": 1000, "types": "public_channel,private_channel"}
        if cursor:
            args["cursor"] = cursor
        page = await call(client, "conversations.list", **args)
        for channel in page.get("channels", []):
            if channel.get("name") == name:
                return dict(channel)
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            break
    return None


def _slack_ids(names: list[str]) -> list[str]:
    """Slack user ids of warroom names and `group:` names (people.yaml, teams.yaml); people
    without a Slack id are left out."""
    people: People = find_people()
    teams: Mapping[str, Sequence[str]] = {}
    for directory in runbook_dirs():
        found = load_teams_for(directory / "any.yaml") if directory.is_dir() else None
        if found:
            teams = found
            break
    known = [n for n in names if not n.startswith("group:") or n.removeprefix("group:") in teams]
    ids = [people.slack_id(n) for n in resolve_approvers(known, teams)]
    return list(dict.fromkeys(i for i in ids if i))
