"""The Slack Web API for the incident room: the client (`WARROOM_SLACK_BOT_TOKEN`,
`WARROOM_SLACK_API_URL`), read from the environment where it is used, never passed through
history; and Slack's answers turned into retryable or final errors."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.exceptions import ApplicationError

TOKEN_ENV = "WARROOM_SLACK_BOT_TOKEN"
API_URL_ENV = "WARROOM_SLACK_API_URL"
DEFAULT_API_URL = "https://slack.com/api/"
#: Slack error codes that a later attempt can succeed on; every other code is final
#: (`invalid_auth`, `channel_not_found`, `not_in_channel`, `is_archived`, `invalid_blocks`…).
RETRYABLE = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})
#: The longest Retry-After honoured (Slack asks for seconds, sometimes a minute).
MAX_RETRY_AFTER = timedelta(minutes=1)
#: The error type of a refused call (the timeline names it).
ERROR_TYPE = "warroom.SlackError"
#: How far back a retry looks for a message it may already have posted.
HISTORY_LOOKBACK = 200


def configured() -> bool:
    return bool(os.environ.get(TOKEN_ENV))


def web_client() -> AsyncWebClient:
    """A client with the bot token; a final error when none is configured."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise ApplicationError(
            f"{TOKEN_ENV} is not set on the worker: the incident room in Slack needs the bot "
            "token (README, The incident room in Slack)",
            type=ERROR_TYPE,
            non_retryable=True,
        )
    base = os.environ.get(API_URL_ENV) or DEFAULT_API_URL
    return AsyncWebClient(token=token, base_url=base.rstrip("/") + "/", timeout=10)


async def call(client: AsyncWebClient, method: str, **args: Any) -> dict[str, Any]:
    """One Web API call (JSON body); Slack's `ok: false` as an ApplicationError, retryable
    for rate limits and Slack's own failures (429 honours Retry-After), final otherwise."""
    try:
        response = await client.api_call(method, json=args)
    except SlackApiError as err:
        raise refused(method, err) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as err:
        raise ApplicationError(
            f"Slack unreachable for {method}: {type(err).__name__}", type="warroom.SlackUnreachable"
        ) from None
    data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
    return data


def refused(method: str, err: SlackApiError) -> ApplicationError:
    answer = err.response
    status = answer.status_code
    data = answer.data if isinstance(answer.data, dict) else {}
    code = str(data.get("error") or f"HTTP {status}")
    delay: timedelta | None = None
    if status == 429:
        try:
            seconds = float(answer.headers.get("Retry-After", "1"))
        except ValueError:
            seconds = 1.0
        delay = min(timedelta(seconds=max(seconds, 0.0)), MAX_RETRY_AFTER)
    retryable = status == 429 or status >= 500 or code in RETRYABLE
    return ApplicationError(
        f"Slack refused {method}: {code}",
        {"code": code},
        type=ERROR_TYPE,
        non_retryable=not retryable,
        next_retry_delay=delay,
    )


def error_code(err: BaseException) -> str | None:
    """The Slack error code an ApplicationError from `call` carries."""
    if isinstance(err, ApplicationError) and err.details:
        detail = err.details[0]
        if isinstance(detail, dict):
            return str(detail.get("code"))
    return None


async def posted(client: AsyncWebClient, channel: str, block_id: str) -> str | None:
    """The `ts` of a message an earlier attempt posted in `channel` (found by its block id
    among the last HISTORY_LOOKBACK), if any."""
    history = await call(client, "conversations.history", channel=channel, limit=HISTORY_LOOKBACK)
    for message in history.get("messages", []):
        if any(b.get("block_id") == block_id for b in message.get("blocks", [])):
            return str(message["ts"])
    return None
