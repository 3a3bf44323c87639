"""The poll loop shared by http.wait and prometheus.wait: check, count consecutive successes,
sleep, heartbeat the progress, and resume from it when a retry follows a worker crash."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity

from activities.boundary import clip
from activities.heartbeat import heartbeating
from warroom.contract.models import ActionResult
from warroom.errors import WaitTimedOut, WarroomError
from warroom.language.actions import PollParams
from warroom.language.durations import format_duration

#: Characters of an observed value kept in heartbeats and the result.
MAX_VALUE = 1024


class Progress(BaseModel):
    """What a wait heartbeats; a retry of the same activity resumes from it."""

    started_at: float = Field(default_factory=time.time)
    checks: int = 0
    streak: int = 0
    last_value: Any = None
    last_error: str | None = None

    def elapsed(self) -> float:
        return max(0.0, time.time() - self.started_at)


class WaitResult(ActionResult):
    """The value that satisfied the condition, how many checks it took and how long."""

    value: Any = None
    checks: int
    elapsed_seconds: float


#: One check: returns the observed value and whether the condition held. Retryable
#: WarroomErrors (server down, 5xx) count as a failed check; others end the wait.
Check = Callable[[], Awaitable[tuple[Any, bool]]]


def resumed_progress() -> Progress:
    """The progress of an earlier attempt of this activity, or a fresh one."""
    details = activity.info().heartbeat_details
    if details and isinstance(details[0], dict):
        return Progress.model_validate(details[0])
    return Progress()


async def poll_until(params: PollParams, check: Check, what: str) -> WaitResult:
    """Run `check` every `interval` until it holds `checks_needed` times in a row."""
    progress = resumed_progress()
    needed = params.checks_needed()
    timeout = params.timeout.total_seconds()
    async with heartbeating(lambda: progress.model_dump(mode="json")):
        while True:
            try:
                async with asyncio.timeout(params.request_timeout.total_seconds()):
                    value, held = await check()
                progress.last_value, progress.last_error = _small(value), None
            except TimeoutError:
                held, progress.last_error = (
                    False,
                    f"no answer within {format_duration(params.request_timeout)}",
                )
            except WarroomError as exc:
                if not exc.retryable:
                    raise
                held, progress.last_error = False, str(exc)
            progress.checks += 1
            progress.streak = progress.streak + 1 if held else 0
            activity.heartbeat(progress.model_dump(mode="json"))
            if progress.streak >= needed:
                return WaitResult(
                    value=progress.last_value,
                    checks=progress.checks,
                    elapsed_seconds=round(progress.elapsed(), 3),
                )
            if progress.elapsed() + params.interval.total_seconds() > timeout:
                raise WaitTimedOut(_timed_out(what, params, progress, needed))
            await asyncio.sleep(params.interval.total_seconds())


def _small(value: Any) -> Any:
    """Keep heartbeats and results small: a big value is kept as the start of its JSON."""
    text = json.dumps(value, default=str)
    return value if len(text) <= MAX_VALUE else clip(text, MAX_VALUE)


def _timed_out(what: str, params: PollParams, progress: Progress, needed: int) -> str:
    last = (
        f"last error: {progress.last_error}"
        if progress.last_error
        else f"last value: {progress.last_value!r}"
    )
    return (
        f"{what} did not hold for {needed} consecutive check(s) within "
        f"{format_duration(params.timeout)} ({progress.checks} checks, {last})"
    )
