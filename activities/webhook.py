"""Action `webhook.post`: post a status update as {"text": ...} (Slack-compatible incoming webhook)."""

from __future__ import annotations

import hashlib
import hmac

import httpx

from activities.boundary import action
from activities.http import send
from warroom.contract.models import ActionResult
from warroom.language.actions import WebhookParams

SIGNATURE_HEADER = "X-Warroom-Signature"


def json_bytes(body: object) -> bytes:
    """The exact bytes httpx sends for `json=body` (what `send` does), so the signature covers
    what the receiver reads."""
    return httpx.Request("POST", "http://signing.invalid", json=body).content


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookResult(ActionResult):
    status: int


@action("webhook.post", WebhookParams)
async def webhook_post(params: WebhookParams) -> WebhookResult:
    """Post `text` to the webhook; retried like http.request."""
    body = {"text": params.text}
    headers = dict(params.headers)
    if params.hmac_secret:
        headers[SIGNATURE_HEADER] = signature(params.hmac_secret.encode(), json_bytes(body))
    response = await send("POST", params.url, headers, body, None)
    return WebhookResult(status=response.status_code)
