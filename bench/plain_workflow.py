"""The baseline: a plain Temporal workflow doing the same HTTP calls as the benchmark runbook
(its activity is in plain_activity.py: workflow modules never import httpx)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy


@workflow.defn(name="PlainSteps")
class PlainSteps:
    @workflow.run
    async def run(self, url: str, steps: int) -> int:
        for _ in range(steps):
            await workflow.execute_activity(
                "bench.plain_get",
                url,
                result_type=int,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        return steps
