"""A direct message to a person's Slack user id (`chat.postMessage` with `channel=<user id>`):
the `slack` contact method of shift notices and pages (activities/oncall_notify.py). A page
carries the incident card's **Acknowledge** button. The bot token is read here, on the worker
(`WARROOM_SLACK_BOT_TOKEN`); Slack's refusals are classified as activities/slack_api.py does."""

from __future__ import annotations

from pydantic import BaseModel

from activities.slack_api import call, web_client
from activities.slack_blocks import MAX_TEXT, cut, dm_blocks
from warroom.contract.models import ActionInput, ActionResult


class DirectMessage(BaseModel):
    user: str
    subject: str
    text: str
    #: The incident a page's Acknowledge button acknowledges (none: a notice, no button).
    acknowledge: str | None = None


async def slack_dm(inp: ActionInput) -> ActionResult:
    message = DirectMessage.model_validate(inp.params)
    await call(
        web_client(),
        "chat.postMessage",
        channel=message.user,
        text=cut(f"{message.subject}: {message.text}", MAX_TEXT),
        blocks=dm_blocks(message.subject, message.text, message.acknowledge),
    )
    return ActionResult()
