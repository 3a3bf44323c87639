"""Answers to Slack after the 3-second acknowledgement: through the request's `response_url`,
an ephemeral message to one person, a modal (`views.open`). A lost answer is logged, never
raised: the decision itself went through the workflow."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.webhook.async_client import AsyncWebhookClient
from temporalio.exceptions import ApplicationError

from activities.slack_api import call, web_client

log = logging.getLogger("warroom.chat")


async def respond(response_url: str | None, text: str, *, in_channel: bool = False) -> None:
    """Answer through `response_url`: ephemeral (the asker alone) unless `in_channel`."""
    if not response_url:
        return
    try:
        answer = await AsyncWebhookClient(response_url, timeout=10).send(
            text=text,
            response_type="in_channel" if in_channel else "ephemeral",
            replace_original=False,
        )
        if answer.status_code >= 300:
            log.warning("Slack refused the answer to a request: HTTP %s", answer.status_code)
    except Exception as err:
        log.warning("could not answer Slack: %s", type(err).__name__)


async def tell(channel: str, user: str, text: str) -> None:
    """An ephemeral message to `user` in `channel` (`chat.postEphemeral`)."""
    await _call("chat.postEphemeral", channel=channel, user=user, text=text)


async def open_view(trigger_id: str, view: dict[str, Any]) -> None:
    await _call("views.open", trigger_id=trigger_id, view=view)


async def _call(method: str, **args: Any) -> None:
    try:
        await call(web_client(), method, **args)
    except ApplicationError as err:
        log.warning("%s", err.message)
