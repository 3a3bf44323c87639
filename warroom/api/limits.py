"""Request bodies: refused over a size limit (413) before anything parses them, and read as
JSON whatever their Content-Type says (senders that say text/plain still mean JSON)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest request body accepted by default.
DEFAULT_MAX_BODY = 1024 * 1024
#: How much of a too-large body is read anyway before answering 413 (see BodyLimit._drain).
DRAIN_BYTES = 1024 * 1024


class BodyLimit:
    """ASGI middleware: reads the body up to `max_bytes` (trusting no Content-Length), then
    hands it on; a larger one gets 413 and is never parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._drain(receive, {"more_body": True})
            await self._refuse(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._drain(receive, message)
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False
        if body:
            scope = {**scope, "headers": _as_json(scope["headers"])}

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # waits for the disconnect, as the real one would
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, message: Message) -> None:
        """Read (and drop) a little more of a body that is too large, so a client still
        sending it gets the 413 instead of a reset connection; a larger rest is cut off."""
        left = DRAIN_BYTES
        while message.get("more_body", False) and left > 0:
            message = await receive()
            left -= len(message.get("body", b""))

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps(
            {"error": f"request body over the limit of {self.max_bytes:,} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _as_json(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-type"]
    return [*kept, (b"content-type", b"application/json")]
