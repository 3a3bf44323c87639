"""Run an action activity directly, and read its result as the step keeps it in history."""

from __future__ import annotations

from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.http import HttpResult
from warroom.models import ActionInput


async def run_action(fn: Any, inp: ActionInput) -> HttpResult:
    """The stored result of a step without `outputs` (the whole result), typed again."""
    stored = await ActivityEnvironment().run(fn, inp)
    assert stored.outputs is None and stored.result is not None
    return HttpResult.model_validate({**stored.result, "attempt": stored.attempt})
