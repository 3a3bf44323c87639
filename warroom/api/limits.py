"""Request bodies: refused over a size limit (413) before anything parses them (at once when
the Content-Length says so), and read within a deadline (408 after it), so a slow or lying
client cannot hold a connection. (What they must be is `warroom.api.same_origin`'s.)"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warroom.api.errors import send_error_start

#: Largest request body accepted by default.
DEFAULT_MAX_BODY = 1024 * 1024
#: How much of a too-large body is read anyway before answering 413 (see BodyLimit._drain).
DRAIN_BYTES = 1024 * 1024
#: Seconds a client has to send a request's headers (`warroom.api.server`), and then its body.
READ_TIMEOUT = 5.0


class BodyLimit:
    """ASGI middleware: reads the body up to `max_bytes` within `read_timeout` seconds, then
    hands it on. A body that is larger (by its Content-Length, answered before reading it; or
    as it arrives, trusting no Content-Length) gets 413 and is never parsed; one that has not
    arrived in time gets 408."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY, read_timeout: float = READ_TIMEOUT
    ) -> None:
        self.app, self.max_bytes, self.read_timeout = app, max_bytes, read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.read_timeout
        too_large = f"request body over the limit of {self.max_bytes:,} bytes"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, 413, too_large, receive, {"more_body": True}, deadline)
            return
        chunks, size = [], 0
        try:
            while True:
                message = await self._receive(receive, deadline)
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    await self._refuse(send, 413, too_large, receive, message, deadline)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except TimeoutError:
            reason = f"the request body did not arrive within {self.read_timeout:g}s"
            await self._refuse(send, 408, reason)
            return
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # waits for the disconnect, as the real one would
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _receive(receive: Receive, deadline: float) -> Message:
        """The next part of the body, or TimeoutError once the deadline has passed."""
        async with asyncio.timeout_at(deadline):
            return await receive()

    async def _drain(self, receive: Receive, message: Message, deadline: float) -> None:
        """Read (and drop) a little more of a body that is too large, so a client still
        sending it reads the 413 instead of a reset connection; a larger or later rest is
        cut off."""
        left = DRAIN_BYTES
        with contextlib.suppress(TimeoutError):
            while message.get("more_body", False) and left > 0:
                message = await self._receive(receive, deadline)
                left -= len(message.get("body", b""))

    async def _refuse(
        self,
        send: Send,
        status: int,
        reason: str,
        receive: Receive | None = None,
        message: Message | None = None,
        deadline: float = 0.0,
    ) -> None:
        """Answer `status` at once and close; with `receive`, drain the body's rest first (the
        client has the whole answer meanwhile: its length is said)."""
        payload = await send_error_start(send, status, reason, close=True)
        await send({"type": "http.response.body", "body": payload, "more_body": True})
        if receive is not None and message is not None:
            await self._drain(receive, message, deadline)
        await send({"type": "http.response.body", "body": b""})
