"""Action `slack.post`: a Block Kit incident message (title, severity, status, fields) through an
incoming webhook, or `chat.postMessage` with a bot token so later posts thread under the first."""

from __future__ import annotations

from typing import Any

from activities.boundary import action, clip
from activities.http import send
from warroom.contract.models import ActionResult
from warroom.errors import SlackError
from warroom.language.actions import SlackParams

#: Errors an incoming webhook answers with their own status (the body is the error code).
_WEBHOOK_ERRORS = [400, 403, 404, 410]
#: Slack's Block Kit limits: header text, section text, field text, fields per section.
_HEADER, _SECTION, _FIELD, _FIELDS = 150, 3000, 2000, 10


class SlackResult(ActionResult):
    """With the API: the message's `ts` and the `thread_ts` later posts should use."""

    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None


def blocks(params: SlackParams) -> list[dict[str, Any]]:
    """The Block Kit message: header, a section of fields, the text."""
    out: list[dict[str, Any]] = []
    if params.title:
        out.append({"type": "header", "text": _plain(params.title, _HEADER)})
    named = {"Severity": params.severity, "Status": params.status} | params.fields
    fields = [_mrkdwn(f"*{k}*\n{v}", _FIELD) for k, v in named.items() if v][:_FIELDS]
    if fields:
        out.append({"type": "section", "fields": fields})
    out.append({"type": "section", "text": _mrkdwn(params.text, _SECTION)})
    return out


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


@action("slack.post", SlackParams)
async def slack_post(params: SlackParams) -> SlackResult:
    """Post the message; Slack's `ok: false` is a SlackError with its code, retried only for
    `ratelimited`; 429 and 5xx are retried (honouring Retry-After)."""
    message: dict[str, Any] = {"text": clip(params.text, _SECTION), "blocks": blocks(params)}
    if params.webhook_url:
        return await _via_webhook(params.webhook_url, message)
    return await _via_api(params, message)


async def _via_webhook(url: str, message: dict[str, Any]) -> SlackResult:
    response = await send("POST", url, {}, message, [*range(200, 300), *_WEBHOOK_ERRORS])
    if not response.is_success:
        code = clip(response.text.strip(), 100) or str(response.status_code)
        raise SlackError(f"Slack refused the webhook post: {code}", code=code)
    return SlackResult()


async def _via_api(params: SlackParams, message: dict[str, Any]) -> SlackResult:
    body = {"channel": params.channel, **message}
    if params.thread_ts:
        body["thread_ts"] = params.thread_ts
    headers = {"Authorization": f"Bearer {params.token}"}
    url = params.api_url.rstrip("/") + "/chat.postMessage"
    response = await send("POST", url, headers, body, None)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SlackError(
            f"{url} did not answer JSON: {clip(response.text, 200)}", code="bad_response"
        )
    if not answer.get("ok"):
        code = str(answer.get("error", "unknown_error"))
        raise SlackError(
            f"Slack refused chat.postMessage: {code}",
            code=code,
            retryable=code == "ratelimited",
        )
    ts = answer.get("ts")
    return SlackResult(channel=answer.get("channel"), ts=ts, thread_ts=params.thread_ts or ts)
