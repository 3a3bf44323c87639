"""The room's activities against the fake Slack: channel names and `name_taken`, retries that
find what an earlier attempt made instead of making it twice, and Slack's errors classified
(429 honours Retry-After; `invalid_auth`, `channel_not_found`, `is_archived` are final)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.slack_api import call, web_client
from activities.slack_blocks import MAX_TEXT, step_blocks
from activities.slack_room import channel_name, close_room, open_room, post_card, post_step
from warroom.chat.interactions import MODALS, Target, comment_view
from warroom.contract.chat import Card, CloseRoom, OpenRoom, StepMessage
from warroom.entry.fakeslack import TOKEN, FakeSlack

OPEN = OpenRoom(
    incident_id="inc-alert-f4417a3a2412bea4",
    runbook="Checkout_5xx!",
    title="Checkout errors",
    severity="SEV1",
    status="active",
    started_at=datetime(2026, 12, 5, tzinfo=UTC),
    channel="create",
)


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        monkeypatch.setenv("WARROOM_SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("WARROOM_SLACK_API_URL", fake.api_url)
        monkeypatch.setenv("WARROOM_RUNBOOKS", "/nonexistent")
        yield fake


def card(channel: str, **fields: object) -> Card:
    base = dict(
        incident_id=OPEN.incident_id,
        channel=channel,
        title="Checkout errors",
        summary="5xx",
        severity="SEV1",
        status="active",
        phase="triage",
    )
    return Card.model_validate({**base, **fields})


def test_channel_names_follow_slack_rules() -> None:
    assert channel_name(OPEN) == "inc-20261205-checkout_5xx-12bea4"
    long = channel_name(OPEN.model_copy(update={"runbook": "x" * 200}))
    assert len(long + "-9") <= 80 and long.endswith("-12bea4") and long == long.lower()


async def test_open_twice_makes_one_channel_and_a_taken_name_gets_a_suffix(
    slack: FakeSlack,
) -> None:
    slack.add_channel(channel_name(OPEN))  # someone else's channel has the name
    first = await open_room(OPEN)
    again = await open_room(OPEN)  # a retry after the worker died
    assert first == again and first.name == channel_name(OPEN) + "-2"
    assert [m for m in slack.methods() if m == "conversations.create"] == ["conversations.create"]


async def test_card_posted_once_across_retries_then_edited(slack: FakeSlack) -> None:
    room = await open_room(OPEN)
    ts = await post_card(card(room.channel))
    again = await post_card(card(room.channel))  # ts lost with the worker: found in history
    assert again == ts
    channel = slack.channels[room.channel]
    assert len(channel.messages) == 1 and channel.pins == [ts]
    await post_card(card(room.channel, ts=ts, status="resolved", outcome="all clear"))
    assert "all clear" in str(channel.messages[0]) and channel.messages[0]["edited"]


async def test_rate_limited_is_retryable_after_retry_after(slack: FakeSlack) -> None:
    room = await open_room(OPEN)
    slack.rate_limited["chat.postMessage"] = 1
    with pytest.raises(ApplicationError) as caught:
        await post_card(card(room.channel))
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay == timedelta(seconds=1)


@pytest.mark.parametrize("code", ["invalid_auth", "channel_not_found", "not_in_channel"])
async def test_errors_retrying_cannot_fix_are_final(slack: FakeSlack, code: str) -> None:
    room = await open_room(OPEN)
    slack.fail_next["chat.postMessage"] = code
    with pytest.raises(ApplicationError) as caught:
        await post_card(card(room.channel))
    assert caught.value.non_retryable and code in caught.value.message
    assert TOKEN not in str(caught.value)


async def test_a_wrong_token_is_invalid_auth(slack: FakeSlack, monkeypatch) -> None:
    monkeypatch.setenv("WARROOM_SLACK_BOT_TOKEN", "xoxb-wrong")
    with pytest.raises(ApplicationError) as caught:
        await open_room(OPEN)
    assert caught.value.non_retryable and "invalid_auth" in caught.value.message
    assert "xoxb-wrong" not in str(caught.value)


async def test_archived_channel_is_final_and_close_is_idempotent(slack: FakeSlack) -> None:
    room = await open_room(OPEN)
    await close_room(CloseRoom(channel=room.channel, name=room.name, at_close="archive"))
    await close_room(CloseRoom(channel=room.channel, name=room.name, at_close="archive"))
    assert slack.channels[room.channel].archived
    with pytest.raises(ApplicationError) as caught:
        await post_card(card(room.channel, ts=None))
    assert caught.value.non_retryable


async def test_fixed_channel_and_rename_at_close(slack: FakeSlack) -> None:
    fixed = slack.add_channel("payments-incidents")
    room = await open_room(OPEN.model_copy(update={"channel": "#payments-incidents"}))
    assert room.channel == fixed.id
    missing = OPEN.model_copy(update={"channel": "#nowhere"})
    with pytest.raises(ApplicationError, match="not found"):
        await open_room(missing)
    made = await open_room(OPEN)
    await close_room(CloseRoom(channel=made.channel, name=made.name, at_close="rename"))
    assert slack.channels[made.channel].name == made.name + "-resolved"


async def test_fixed_channel_by_id_is_used_as_it_is(slack: FakeSlack) -> None:
    fixed = slack.add_channel("payments-incidents")
    room = await open_room(OPEN.model_copy(update={"channel": fixed.id}))
    assert room.channel == fixed.id
    ts = await post_card(card(room.channel))
    assert [m["ts"] for m in fixed.messages] == [ts] and fixed.pins == [ts]
    assert "conversations.list" not in slack.methods()  # no lookup by name
    assert "conversations.create" not in slack.methods()


@pytest.mark.parametrize(
    ("member", "code"), [(True, "channel_not_found"), (False, "not_in_channel")]
)
async def test_a_channel_id_slack_refuses_is_final(
    slack: FakeSlack, member: bool, code: str
) -> None:
    channel = "C0NOWHERE1" if member else slack.add_channel("elsewhere", member=False).id
    room = await open_room(OPEN.model_copy(update={"channel": channel}))
    with pytest.raises(ApplicationError) as caught:
        await post_card(card(room.channel))
    assert caught.value.non_retryable and caught.value.type == "warroom.SlackError"
    # the first call in it: looking for a card an earlier attempt posted
    assert caught.value.message == f"Slack refused conversations.history: {code}"


async def test_block_kit_limits_hold_for_long_text(slack: FakeSlack) -> None:
    room = await open_room(OPEN)
    huge = StepMessage(
        incident_id=OPEN.incident_id,
        channel=room.channel,
        step="s" * 100,
        title="t" * 5000,
        status="failed",
        error="e" * 10_000,
    )
    for block in step_blocks(huge):
        assert len(block.get("text", {}).get("text", "")) <= MAX_TEXT
    assert await post_step(huge)  # the fake checks every Block Kit limit
    assert await post_card(card(room.channel, summary="x" * 10_000, title="y" * 400))


async def test_the_comment_modals_fit_slacks_view_limits(slack: FakeSlack) -> None:
    """Approve with comment… and Reject's modals open for a step of any name; a modal over
    Slack's limits (a 25-character title) is refused by the fake as Slack refuses it."""
    target = Target(incident=OPEN.incident_id, step="s" * 3000)
    for callback_id in MODALS:
        view = comment_view(callback_id, target, "C1")
        await call(web_client(), "views.open", trigger_id="T1", view=view)
    too_long = {**view, "title": {"type": "plain_text", "text": "t" * 25}}
    with pytest.raises(ApplicationError, match="invalid_arguments"):
        await call(web_client(), "views.open", trigger_id="T1", view=too_long)
    assert [v["callback_id"] for v in slack.views] == list(MODALS)
