"""slack.post against a loopback Slack: an incoming webhook and chat.postMessage that check the
payload the way Slack does (token, channel, blocks) and answer `ok` / `error` like it."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.slack import slack_post
from tests.activities.actions import FAILURE_MODES, FailureMode, HttpTarget, failure, run
from tests.fakehttp import FakeHttp, Recorded, Reply

TOKEN = "xoxb-1234-5678-abcdefSECRET"
TS = "1732530000.000100"
BLOCK_TYPES = {"header", "section", "divider", "context", "actions", "image"}


def block_problem(blocks: Any) -> str | None:
    """Slack's `invalid_blocks` checks that matter here: known types and text limits."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") not in BLOCK_TYPES:
            return "invalid_blocks"
        if block["type"] == "header" and (
            block["text"]["type"] != "plain_text" or len(block["text"]["text"]) > 150
        ):
            return "invalid_blocks"
        if len(block.get("fields", [])) > 10:
            return "invalid_blocks"
    return None


def chat_post_message(rec: Recorded) -> Reply:
    if rec.headers.get("Authorization") != f"Bearer {TOKEN}":
        return Reply(200, {"ok": False, "error": "invalid_auth"})
    body: Any = rec.body if isinstance(rec.body, dict) else {}
    if body.get("channel") != "C0INCIDENTS":
        return Reply(200, {"ok": False, "error": "channel_not_found"})
    if not body.get("text") and not body.get("blocks"):
        return Reply(200, {"ok": False, "error": "no_text"})
    if problem := block_problem(body.get("blocks", [])):
        return Reply(200, {"ok": False, "error": problem})
    return Reply(
        200, {"ok": True, "channel": "C0INCIDENTS", "ts": TS, "message": {"text": body["text"]}}
    )


def incoming_webhook(rec: Recorded) -> Reply:
    body: Any = rec.body if isinstance(rec.body, dict) else {}
    if not body.get("text") or block_problem(body.get("blocks", [])):
        return Reply(400, "invalid_payload")
    return Reply(200, "ok")


def api_params(base: str, **more: Any) -> dict[str, Any]:
    return {
        "api_url": f"{base}/api",
        "token": "{{ secret.SLACK_TOKEN }}",
        "channel": "C0INCIDENTS",
        "text": "Rolled back checkout to v41",
        **more,
    }


@pytest.fixture(autouse=True)
def slack_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_SECRET_SLACK_TOKEN", TOKEN)


async def test_webhook_posts_a_block_kit_message(fake_http: FakeHttp):
    fake_http.routes[("POST", "/services/T0/B0/x")] = incoming_webhook
    result = await run(
        slack_post,
        {
            "webhook_url": f"{fake_http.url}/services/T0/B0/x",
            "title": "Checkout 5xx spike",
            "severity": "SEV1",
            "status": "mitigating",
            "fields": {"Commander": "dana"},
            "text": "Rolling back to v41",
        },
    )
    assert result.ts is None
    (call,) = fake_http.requests
    assert call.body == {
        "text": "Rolling back to v41",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "Checkout 5xx spike", "emoji": True},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\nSEV1"},
                    {"type": "mrkdwn", "text": "*Status*\nmitigating"},
                    {"type": "mrkdwn", "text": "*Commander*\ndana"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "Rolling back to v41"}},
        ],
    }


async def test_api_post_returns_ts_and_later_posts_thread_under_it(fake_http: FakeHttp):
    fake_http.routes[("POST", "/api/chat.postMessage")] = chat_post_message
    first = await run(slack_post, api_params(fake_http.url, title="x" * 400))
    assert (first.ts, first.thread_ts, first.channel) == (TS, TS, "C0INCIDENTS")
    reply = await run(slack_post, api_params(fake_http.url, thread_ts=first.thread_ts))
    assert reply.thread_ts == TS
    first_call, second_call = fake_http.requests
    assert "thread_ts" not in first_call.body
    assert second_call.body["thread_ts"] == TS
    assert len(first_call.body["blocks"][0]["text"]["text"]) == 150  # cut to Slack's limit


async def test_ok_false_is_a_non_retryable_slack_error_with_slacks_code(fake_http: FakeHttp):
    fake_http.routes[("POST", "/api/chat.postMessage")] = chat_post_message
    err = await failure(slack_post, api_params(fake_http.url, channel="C0NOWHERE"))
    assert err.type == "warroom.SlackError"
    assert err.non_retryable
    assert "channel_not_found" in err.message


async def test_ok_false_ratelimited_is_retryable(fake_http: FakeHttp):
    fake_http.routes[("POST", "/api/chat.postMessage")] = Reply(
        200, {"ok": False, "error": "ratelimited"}
    )
    err = await failure(slack_post, api_params(fake_http.url))
    assert err.type == "warroom.SlackError"
    assert not err.non_retryable


async def test_the_token_is_sent_but_never_reported(fake_http: FakeHttp):
    fake_http.routes[("POST", "/api/chat.postMessage")] = Reply(
        200, {"ok": False, "error": f"bad {TOKEN}"}
    )
    err = await failure(slack_post, api_params(fake_http.url))
    assert fake_http.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in err.message


@pytest.mark.parametrize(
    "params",
    [
        {"text": "x"},
        {"text": "x", "webhook_url": "http://h/x", "token": "t", "channel": "c"},
        {"text": "x", "token": "t"},
        {"text": "x", "webhook_url": "http://h/x", "thread_ts": TS},
    ],
)
async def test_refuses_params_that_name_no_single_way_to_post(params: dict[str, Any]):
    err = await failure(slack_post, params)
    assert err.type == "warroom.ActionParamsError"


WEBHOOK = HttpTarget(
    fn=slack_post,
    method="POST",
    path="/services/T0/B0/x",
    params=lambda base: {"webhook_url": f"{base}/services/T0/B0/x", "text": "hi"},
    ok=Reply(200, "ok"),
    refused=Reply(400, "invalid_payload"),
    refused_type="warroom.SlackError",
)
API = HttpTarget(
    fn=slack_post,
    method="POST",
    path="/api/chat.postMessage",
    params=api_params,
    ok=Reply(200, {"ok": True, "channel": "C0INCIDENTS", "ts": TS}),
    refused=Reply(200, {"ok": False, "error": "not_in_channel"}),
    refused_type="warroom.SlackError",
)


@pytest.mark.parametrize("target", [WEBHOOK, API], ids=["webhook", "api"])
@pytest.mark.parametrize("mode", FAILURE_MODES, ids=lambda m: m.__name__)
async def test_failure_modes(
    mode: FailureMode, target: HttpTarget, fake_http: FakeHttp, time_env: WorkflowEnvironment
):
    await mode(target, fake_http, time_env)
