"""The codec server: Temporal's remote codec protocol, so that the Temporal Web UI (the dev
server's `--ui-codec-endpoint`, a self-hosted UI's `TEMPORAL_CODEC_ENDPOINT`) and the CLI
(`temporal workflow show --codec-endpoint`) show encrypted payloads decoded.

`POST /codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}`, each payload
in protobuf JSON (`metadata` values and `data` in base64); the `X-Namespace` header is
accepted and not needed (the keys are this deployment's). Only people who may read incidents
(a viewer or more; not an alerts-only token) may use them: by their bearer token
(`warroom.api.auth.caller`) or, from a browser, their console session (`reader`); a browser
may call them from the configured UI origins only (`WARROOM_CODEC_CORS_ORIGINS`,
comma-separated), which is all `CodecCors` answers CORS for, credentials included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from warroom.access.roles import Role, require
from warroom.access.sessions import Sessions
from warroom.api.auth import action_of, caller
from warroom.api.same_origin import origin_of
from warroom.contract.codec import KEYS_ENV, CodecKeyError, EncryptionCodec

CORS_ENV = "WARROOM_CODEC_CORS_ORIGINS"
PREFIX = "/codec"
#: What the Temporal UI sends with a codec request (and curl's Content-Type).
CORS_HEADERS = "authorization, content-type, x-namespace"
#: How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = "600"

router = APIRouter(prefix=PREFIX, tags=["codec"])


def cors_origins(value: str | None = None) -> frozenset[str]:
    """The UI origins of `value` or $WARROOM_CODEC_CORS_ORIGINS (comma-separated URLs)."""
    given = os.environ.get(CORS_ENV, "") if value is None else value
    return frozenset(origin_of(u) for u in given.split(",") if u.strip())


async def _payloads(request: Request) -> Payloads:
    try:
        body = json.loads(await request.body())
        return ParseDict(body, Payloads(), ignore_unknown_fields=False)
    except (ValueError, ParseError) as exc:
        raise HTTPException(
            400,
            'the body must be {"payloads": [{"metadata": {...}, "data": "..."}]} with base64 '
            f"values ({str(exc).splitlines()[0] if str(exc) else 'malformed'})",
        ) from exc


async def reader(request: Request) -> str | None:
    """FastAPI dependency: a viewer or more, by the bearer token when the request has one, else
    by the console session its cookie carries (the Temporal UI sends it with
    `includeCredentials`); neither: 401 (anyone, without tokens)."""
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    if sessions is not None and request.app.state.tokens and "authorization" not in request.headers:
        session = sessions.read(request.cookies.get(sessions.cookie_name, ""))
        found = session.principal() if session is not None else None
        if found is not None:
            return require(found, Role.viewer, action_of(request)).identity
    return await caller(request)


def _codec(request: Request) -> EncryptionCodec:
    codec: EncryptionCodec | None = request.app.state.codec
    if codec is None:
        raise HTTPException(404, f"payload encryption is off here: no {KEYS_ENV}")
    return codec


def _answer(payloads: list[Any]) -> JSONResponse:
    return JSONResponse(MessageToDict(Payloads(payloads=payloads)) or {"payloads": []})


@router.post("/decode", summary="Decrypt payloads (Temporal's remote codec protocol)")
async def decode(request: Request, _: Annotated[str | None, Depends(reader)]) -> JSONResponse:
    codec, payloads = _codec(request), await _payloads(request)
    try:
        return _answer(await codec.decode(payloads.payloads))
    except CodecKeyError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/encode", summary="Encrypt payloads (Temporal's remote codec protocol)")
async def encode(request: Request, _: Annotated[str | None, Depends(reader)]) -> JSONResponse:
    codec, payloads = _codec(request), await _payloads(request)
    return _answer(await codec.encode(payloads.payloads))


class CodecCors:
    """ASGI middleware: CORS for the codec routes, for `origins` only. A preflight from one of
    them is answered here; a request from one gets `Access-Control-Allow-Origin` (and may send
    credentials). Any other origin gets no CORS header, so its page cannot read the answer."""

    def __init__(self, app: ASGIApp, origins: Collection[str] = ()) -> None:
        self.app, self.origins = app, frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1").lower()
        allowed = origin in self.origins
        if scope["method"] == "OPTIONS" and allowed:
            await send({"type": "http.response.start", "status": 204, "headers": _cors(origin)})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and allowed:
                message["headers"] = [*message.get("headers", []), *_cors(origin)]
            await send(message)

        await self.app(scope, receive, send_cors)


def _cors(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode()),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-allow-methods", b"POST"),
        (b"access-control-allow-headers", CORS_HEADERS.encode()),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
        (b"vary", b"Origin"),
    ]
