"""The one error shape of the API, `{"error": "one line saying what is wrong"}`, for OpenAPI."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.types import Send

WHY = {
    400: "The body is not JSON.",
    401: "No valid bearer token (the API runs with WARROOM_API_TOKENS).",
    403: "The body names someone other than the token's identity, or a browser sent it from another site.",
    404: "No such incident.",
    409: "The workflow refused the decision (the reason is the error), or the incident is closed.",
    413: "The body is over the size limit.",
    422: "The body or a parameter breaks the schema (the error names the field).",
    503: "Temporal is unreachable, or no worker took the decision: retry later.",
}


class ErrorBody(BaseModel):
    error: str


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": WHY[code]} for code in codes}


async def send_error_start(send: Send, status: int, reason: str, *, close: bool = False) -> bytes:
    """Start a raw ASGI answer in the error shape (for middleware that answers before the app);
    returns the body, which the caller sends."""
    payload = json.dumps({"error": reason}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    return payload
