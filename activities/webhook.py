"""Action `webhook.post`: post a status update as {"text": ...} (Slack-compatible incoming webhook)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from activities.http import send
from warroom.actions import action
from warroom.models import ActionResult


class WebhookParams(BaseModel):
    """`with:` of a webhook.post step or update target."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    text: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)


class WebhookResult(ActionResult):
    status: int


@action("webhook.post", WebhookParams)
async def webhook_post(params: WebhookParams) -> WebhookResult:
    """Post `text` to the webhook; retried like http.request."""
    response = await send("POST", params.url, params.headers, {"text": params.text}, None)
    return WebhookResult(status=response.status_code)
