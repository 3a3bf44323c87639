"""Requests that Slack signed: `X-Slack-Signature` (v0, HMAC-SHA256 of `v0:{timestamp}:{body}`
with the signing secret, compared in constant time by slack_sdk's SignatureVerifier), a
timestamp within five minutes, and each signed request acted on once (Slack's own retries,
`X-Slack-Retry-Num`, are let through: the decision they carry has the same id and applies once)."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Mapping

from slack_sdk.signature import SignatureVerifier

SECRET_ENV = "WARROOM_SLACK_SIGNING_SECRET"
#: Slack's window: a request signed longer ago than this is refused.
WINDOW_SECONDS = 5 * 60
#: Signatures remembered (a request older than the window is refused anyway).
REMEMBERED = 10_000


class Refused(Exception):
    """The request is not acted on: the HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class SignedRequests:
    """Checks Slack's signature on each request; remembers the ones it acted on."""

    def __init__(self, secret: str | None) -> None:
        self._verifier = SignatureVerifier(secret) if secret else None
        self._seen: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def from_env(cls) -> SignedRequests:
        return cls(os.environ.get(SECRET_ENV) or None)

    def check(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise Refused unless Slack signed `body` within the window and it is not a replay."""
        if self._verifier is None:
            raise Refused(503, f"{SECRET_ENV} is not set: Slack requests cannot be verified")
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            raise Refused(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature")
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            raise Refused(401, "X-Slack-Request-Timestamp is not a Unix time") from None
        if age > WINDOW_SECONDS:
            raise Refused(401, "X-Slack-Request-Timestamp is more than 5 minutes off")
        if not self._verifier.is_valid(body, timestamp, signature):
            raise Refused(401, "X-Slack-Signature does not match the body")
        if signature in self._seen and not headers.get("x-slack-retry-num"):
            raise Refused(409, "this signed request was already received (a replay)")
        self._seen[signature] = None
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
