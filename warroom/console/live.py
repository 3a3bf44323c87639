"""Server-Sent Events for the live parts: the incidents list, and an incident's timeline
(`warroom.record.timeline.follow`) with its state refreshed after each batch of entries.

A stream lasts at most STREAM_SECONDS, then the browser reconnects by itself (`retry`), with
`Last-Event-ID` for the timeline: so a stopping server never waits long for an open page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from warroom.console import pages, render, session
from warroom.console.pages import IncidentId, Who
from warroom.record.timeline import follow

router = APIRouter(
    prefix=f"{session.PREFIX}/live", include_in_schema=False, route_class=pages.ConsoleRoute
)

#: Longest life of one stream (the browser reconnects at once after it).
STREAM_SECONDS = 15.0
#: How often the incidents list is read again.
LIST_EVERY = 1.0
#: Entries that arrive this close together are one batch: the state is read once after it.
BATCH_SECONDS = 0.2
RECONNECT_MS = 500


def event(kind: str, html: str, event_id: int | None = None) -> str:
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in html.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def streaming(events: AsyncIterator[str]) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        yield f"retry: {RECONNECT_MS}\n\n"
        async for text in events:
            yield text

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/incidents")
async def incidents_stream(request: Request, me: Who) -> StreamingResponse:
    """The list's rows whenever they change."""

    async def rows() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end, last = loop.time() + STREAM_SECONDS, None
        while loop.time() < end:
            html = render.fragment(request, "_rows.html", incidents=await pages.listed(request))
            if html != last:
                yield event("rows", html)
                last = html
            await asyncio.sleep(LIST_EVERY)

    return streaming(rows())


@router.get("/incidents/{incident_id}")
async def timeline_stream(
    request: Request, incident_id: IncidentId, me: Who, after: int = 0
) -> StreamingResponse:
    """Each timeline entry past `after` (or the Last-Event-ID) as it happens, each one's id
    its position; the incident's state after each batch; `end` once it has closed."""
    resumed = request.headers.get("last-event-id", "")
    seen = int(resumed) if resumed.isdigit() else after
    client = await pages.client_of(request)

    async def entries() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end, position, stale = loop.time() + STREAM_SECONDS, 0, False
        stream = follow(client, incident_id)
        upcoming = asyncio.ensure_future(anext(stream))
        try:
            while True:
                wait = end - loop.time()
                if stale:
                    wait = min(wait, BATCH_SECONDS)
                done, _ = await asyncio.wait({upcoming}, timeout=max(wait, 0))
                if not done:
                    if stale:
                        context = await pages.incident_context(request, incident_id)
                        yield event("state", pages.state_fragment(request, context))
                        stale = False
                        continue
                    return
                try:
                    entry = upcoming.result()
                except StopAsyncIteration:
                    context = await pages.incident_context(request, incident_id)
                    yield event("state", pages.state_fragment(request, context))
                    yield event("end", "closed")
                    return
                position += 1
                if position > seen:
                    html = render.fragment(request, "_entry.html", e=entry)
                    yield event("entry", html, position)
                    stale = True
                upcoming = asyncio.ensure_future(anext(stream))
        finally:
            upcoming.cancel()
            with contextlib.suppress(BaseException):
                await upcoming
            with contextlib.suppress(BaseException):
                await stream.aclose()  # type: ignore[attr-defined]  # an async generator

    return streaming(entries())
