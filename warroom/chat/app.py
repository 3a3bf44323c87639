"""The chat face: Slack's request URLs on the web process (`POST /v1/chat/slack/interactions`,
`POST /v1/chat/slack/commands`). Each request is verified (warroom/chat/signing.py), answered
within Slack's 3 seconds, and acted on after the answer (decisions take up to a few seconds)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from warroom.chat import commands, interactions
from warroom.chat.rooms import Rooms
from warroom.chat.signing import Refused, SignedRequests
from warroom.language.people import People, find_people

PREFIX = "/v1/chat/slack"
#: Slack sends its requests as urlencoded forms (the web process's same-origin rules).
FORMS_UNDER = PREFIX + "/"
log = logging.getLogger("warroom.chat")
router = APIRouter(prefix=PREFIX, include_in_schema=False)


def mount(app: FastAPI) -> None:
    """Slack's request URLs on `app` (whose `state.temporal` connects to Temporal)."""
    app.state.chat_signed = SignedRequests.from_env()
    app.state.chat_people = find_people()
    app.state.chat_rooms = Rooms()
    app.include_router(router)


async def _verified(request: Request) -> tuple[bytes, dict[str, str]]:
    raw = await request.body()
    signed: SignedRequests = request.app.state.chat_signed
    signed.check({k.lower(): v for k, v in request.headers.items()}, raw)
    return raw, dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def _refusal(err: Refused) -> JSONResponse:
    return JSONResponse({"ok": False, "error": err.reason}, err.status)


def _later(work: Callable[[], Awaitable[None]] | None) -> BackgroundTask | None:
    """`work` run after the answer has gone to Slack; its failure is logged."""
    if work is None:
        return None

    async def run() -> None:
        try:
            await work()
        except Exception:
            log.exception("a Slack request's work failed after it was acknowledged")

    return BackgroundTask(run)


@router.post("/interactions")
async def slack_interactions(request: Request) -> Response:
    try:
        raw, form = await _verified(request)
        payload = interactions.parse(form)
        state = request.app.state
        answer, later = interactions.handle(payload, raw, state.chat_people, state.temporal)
    except Refused as err:
        return _refusal(err)
    body: Any = b"" if answer is None else answer
    if isinstance(body, dict):
        return JSONResponse(body, background=_later(later))
    return Response(status_code=200, background=_later(later))


@router.post("/commands")
async def slack_commands(request: Request) -> Response:
    try:
        raw, form = await _verified(request)
    except Refused as err:
        return _refusal(err)
    if not form.get("user_id") or not form.get("command"):
        return _refusal(Refused(400, "a slash command has user_id and command"))
    state = request.app.state
    people: People = state.chat_people
    cmd = commands.Command(
        text=form.get("text", ""),
        user=form["user_id"],
        channel=form.get("channel_id", ""),
        response_url=form.get("response_url"),
        raw=raw,
    )
    catalogue = getattr(state, "catalogue", None)

    async def work() -> None:
        await commands.run(cmd, people, state.chat_rooms, state.temporal, catalogue)

    # An empty 200 acknowledges; the answer follows through response_url.
    return Response(status_code=200, background=_later(work))
