"""A direct message to a person's Slack user id (`chat.postMessage` with `channel=<user id>`):
the `slack` contact method of shift notices and pages (activities/oncall_notify.py). A page
carries the incident card's **Acknowledge** button. The bot token is read here, on the worker
(`WARROOM_SLACK_BOT_TOKEN`); Slack's refusals are classified as activities/slack_api.py does.

Sent once across retries: the message carries a block id made from the send's idempotency key,
and a retried activity (attempt > 1) first looks for it in the DM's recent history (the DM
opened with `conversations.open`), as the incident room finds what an earlier attempt posted."""

from __future__ import annotations

import logging

from pydantic import BaseModel
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.slack_api import call, error_code, posted, web_client
from activities.slack_blocks import MAX_TEXT, cut, dm_blocks, dm_id
from warroom.contract.models import ActionInput, ActionResult

log = logging.getLogger(__name__)


class DirectMessage(BaseModel):
    user: str
    subject: str
    text: str
    #: The incident a page's Acknowledge button acknowledges (none: a notice, no button).
    acknowledge: str | None = None


async def slack_dm(inp: ActionInput) -> ActionResult:
    message = DirectMessage.model_validate(inp.params)
    client = web_client()
    block_id = dm_id(inp.idempotency_key)
    if (
        activity.in_activity()
        and activity.info().attempt > 1
        and await _sent(client, message, block_id)
    ):
        return ActionResult()  # an earlier attempt sent it; Slack's answer was lost
    await call(
        client,
        "chat.postMessage",
        channel=message.user,
        text=cut(f"{message.subject}: {message.text}", MAX_TEXT),
        blocks=dm_blocks(message.subject, message.text, message.acknowledge, block_id),
    )
    return ActionResult()


async def _sent(client: AsyncWebClient, message: DirectMessage, block_id: str) -> bool:
    """Whether an earlier attempt's DM with `block_id` is in the DM already. An app installed
    without `im:history` cannot look: logged, and the DM is sent (perhaps again)."""
    opened = await call(client, "conversations.open", users=message.user)
    try:
        return await posted(client, str(opened["channel"]["id"]), block_id) is not None
    except ApplicationError as err:
        if error_code(err) != "missing_scope":
            raise
        log.warning("Slack app lacks the im:history scope: a retried DM may be sent twice")
        return False
