"""Heartbeats for long actions (waits, polls, exec): a background ticker that reports progress, so
Temporal can deliver cancellation and a retry after a worker crash can resume from the details."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

from temporalio import activity

#: The most time between two heartbeats; the workflow's heartbeat_timeout must be well above it.
EVERY = timedelta(seconds=5)


def interval() -> float:
    """Seconds between heartbeats: EVERY, or a third of a shorter heartbeat_timeout."""
    timeout = activity.info().heartbeat_timeout
    every = min(EVERY, timeout / 3) if timeout else EVERY
    return every.total_seconds()


@asynccontextmanager
async def heartbeating(details: Callable[[], Any]) -> AsyncIterator[None]:
    """Heartbeat `details()` now and then until the block ends.

    Cancellation reaches an activity only through heartbeats; ticking in the background keeps
    them flowing while the action itself is blocked in a request or waiting on a process.
    """

    async def tick() -> None:
        while True:
            activity.heartbeat(details())
            await asyncio.sleep(interval())

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        with suppress(asyncio.CancelledError):
            await ticker
