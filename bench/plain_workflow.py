"""The baselines: plain Temporal workflows doing what the benchmarks' runbooks do (their
activity is in plain_activity.py: workflow modules never import httpx)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

#: Every baseline activity's timeout and retries, as a runbook step's defaults would be.
OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=3),
}


async def _get(url: str) -> int:
    status: int = await workflow.execute_activity(
        "bench.plain_get", url, result_type=int, **OPTIONS
    )
    return status


@workflow.defn(name="PlainSteps")
class PlainSteps:
    @workflow.run
    async def run(self, url: str, steps: int) -> int:
        for _ in range(steps):
            await _get(url)
        return steps


@workflow.defn(name="PlainGate")
class PlainGate:
    """The baseline of a human decision: wait for an `approve` signal, then one GET."""

    def __init__(self) -> None:
        self._approved = False

    @workflow.signal
    def approve(self) -> None:
        self._approved = True

    @workflow.run
    async def run(self, url: str) -> int:
        await workflow.wait_condition(lambda: self._approved)
        return await _get(url)


@workflow.defn(name="PlainCadence")
class PlainCadence:
    """The baseline of an open incident: a status post every `every_s` seconds, forever."""

    @workflow.run
    async def run(self, url: str, every_s: float) -> None:
        posted = 0
        while True:
            await workflow.sleep(every_s)
            posted += 1
            await workflow.execute_activity(
                "bench.plain_post", args=[url, f"update {posted}"], result_type=int, **OPTIONS
            )
