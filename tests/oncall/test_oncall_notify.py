"""Activity `oncall.notify`: a person is reached through their first usable contact method in
people.yaml order, by the e-mail, PagerDuty and webhook actions, against real local peers (an
SMTP server, a loopback HTTP server that answers as PagerDuty's Events API v2 does)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.oncall_notify import oncall_notify
from tests.activities.test_email import Mailbox, mailbox  # noqa: F401 (a fixture)
from tests.fakehttp import FakeHttp, Reply
from warroom.contract.oncall import NotifyInput
from warroom.entry.fakeslack import TOKEN, FakeSlack, buttons, texts

NOTICE = NotifyInput(
    schedule="sre-primary",
    person="alice",
    subject="On call: sre-primary",
    text="You are on call for sre-primary from Mon 07 Dec 09:00 CET until Mon 14 Dec 09:00 CET.",
    key="sre-primary:handoff:2026-12-07T08:00:00+00:00:alice",
)


def people(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alice: str) -> None:
    path = tmp_path / "people.yaml"
    path.write_text(f"alice: {alice}\n")
    monkeypatch.setenv("WARROOM_PEOPLE", str(path))


async def test_without_a_slack_token_slack_is_passed_over_for_pagerduty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_http: FakeHttp
) -> None:
    monkeypatch.delenv("WARROOM_SLACK_BOT_TOKEN", raising=False)
    people(
        tmp_path,
        monkeypatch,
        "{slack: U024BE7LH, pagerduty: PD_ALICE, contact: [slack, pagerduty]}",
    )
    monkeypatch.setenv("WARROOM_SECRET_PD_ALICE", "R0UTINGKEY0000000000000000000000")
    monkeypatch.setenv("WARROOM_PAGERDUTY_URL", f"{fake_http.url}/v2/enqueue")
    fake_http.routes[("POST", "/v2/enqueue")] = Reply(
        202, {"status": "success", "message": "Event processed", "dedup_key": NOTICE.key}
    )
    result = await ActivityEnvironment().run(oncall_notify, NOTICE)
    assert result.method == "pagerduty"
    assert result.skipped == ["slack: WARROOM_SLACK_BOT_TOKEN is not set on the worker"]
    [sent] = fake_http.calls("POST", "/v2/enqueue")
    assert sent.body["routing_key"] == "R0UTINGKEY0000000000000000000000"
    assert sent.body["event_action"] == "trigger" and sent.body["dedup_key"] == NOTICE.key
    assert "You are on call for sre-primary" in sent.body["payload"]["summary"]


async def test_email_goes_through_the_workers_smtp_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: tuple[Mailbox, int],  # noqa: F811
) -> None:
    box, port = mailbox
    people(tmp_path, monkeypatch, "{email: alice@example.com, webhook: https://sms.invalid/a}")
    monkeypatch.setenv("WARROOM_SMTP_HOST", f"127.0.0.1:{port}")
    monkeypatch.setenv("WARROOM_SMTP_FROM", "warroom@example.com")
    result = await ActivityEnvironment().run(oncall_notify, NOTICE)
    assert (result.method, result.skipped) == ("email", [])
    [(to, message)] = box.messages
    assert to == ["alice@example.com"] and message["Subject"] == "On call: sre-primary"


async def test_without_smtp_settings_email_is_passed_over_for_the_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_http: FakeHttp
) -> None:
    people(tmp_path, monkeypatch, f"{{email: alice@example.com, webhook: {fake_http.url}/sms}}")
    monkeypatch.delenv("WARROOM_SMTP_HOST", raising=False)
    fake_http.routes[("POST", "/sms")] = Reply(200, {})
    result = await ActivityEnvironment().run(oncall_notify, NOTICE)
    assert result.method == "webhook"
    assert result.skipped == [
        "email: WARROOM_SMTP_HOST and WARROOM_SMTP_FROM are not set on the worker"
    ]
    assert fake_http.calls("POST", "/sms")[0].body["text"].startswith("On call: sre-primary: ")


async def test_nobody_to_reach_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARROOM_SLACK_BOT_TOKEN", raising=False)
    people(tmp_path, monkeypatch, "{slack: U024BE7LH}")
    with pytest.raises(ApplicationError, match="alice has no usable contact method") as caught:
        await ActivityEnvironment().run(oncall_notify, NOTICE)
    assert caught.value.non_retryable
    with pytest.raises(ApplicationError, match=r"bob is not in people\.yaml"):
        await ActivityEnvironment().run(oncall_notify, NOTICE.model_copy(update={"person": "bob"}))


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        monkeypatch.setenv("WARROOM_SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("WARROOM_SLACK_API_URL", fake.api_url)
        yield fake


async def test_a_shift_notice_is_a_slack_dm_without_buttons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack
) -> None:
    people(tmp_path, monkeypatch, "{slack: U024BE7LH, email: alice@example.com}")
    result = await ActivityEnvironment().run(oncall_notify, NOTICE)
    assert (result.method, result.skipped) == ("slack", [])
    [call] = slack.calls
    assert (call.method, call.args["channel"], call.ok) == ("chat.postMessage", "U024BE7LH", True)
    [message] = slack.channels["D024BE7LH"].messages  # the bot's DM with alice
    assert "You are on call for sre-primary" in texts(message)
    assert "On call: sre-primary" in texts(message) and buttons(message) == {}


async def test_slack_refusing_a_notice_is_final_with_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack
) -> None:
    people(tmp_path, monkeypatch, "{slack: U024BE7LH}")
    slack.fail_next["chat.postMessage"] = "user_not_found"
    with pytest.raises(
        ApplicationError, match=r"Slack refused chat\.postMessage: user_not_found"
    ) as e:
        await ActivityEnvironment().run(oncall_notify, NOTICE)
    assert e.value.non_retryable and e.value.type == "warroom.SlackError"


async def test_a_dm_slack_took_but_whose_answer_was_lost_is_sent_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack
) -> None:
    people(tmp_path, monkeypatch, "{slack: U024BE7LH}")
    slack.lose_next.add("chat.postMessage")  # Slack posts it; the worker gets a 502
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError, match=r"HTTP 502") as e:
        await env.run(oncall_notify, NOTICE)
    assert not e.value.non_retryable  # so Temporal tries again, with the same key
    env.info = dataclasses.replace(env.info, attempt=2)
    result = await env.run(oncall_notify, NOTICE)
    assert result.method == "slack"
    [message] = slack.channels["D024BE7LH"].messages  # one DM, not two
    assert "You are on call for sre-primary" in texts(message)
    assert slack.methods() == [
        "chat.postMessage",  # attempt 1: taken, answer lost
        "conversations.open",  # attempt 2: the DM's id …
        "conversations.history",  # … and the message found there by its block id
    ]
    another = NOTICE.model_copy(update={"key": NOTICE.key + ":next"})
    await env.run(oncall_notify, another)  # a retry of another notice is still sent
    assert len(slack.channels["D024BE7LH"].messages) == 2


async def test_without_im_history_a_retried_dm_is_sent_anyway(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An app installed before the manifest asked for `im:history` cannot look (the fake
    refuses as Slack does): the notice still goes out, and the log says why it may be twice."""
    people(tmp_path, monkeypatch, "{slack: U024BE7LH}")
    slack.scopes.discard("im:history")
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2)
    assert (await env.run(oncall_notify, NOTICE)).method == "slack"
    assert [c.error for c in slack.calls if not c.ok] == ["missing_scope"]
    assert len(slack.channels["D024BE7LH"].messages) == 1
    assert "lacks the im:history scope" in caplog.text
