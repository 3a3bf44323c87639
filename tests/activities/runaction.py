"""A workflow that runs one action activity with a retry policy, so tests see real retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy


@workflow.defn
class RunAction:
    @workflow.run
    async def run(self, name: str, action_input: dict[str, Any], attempts: int) -> Any:
        return await workflow.execute_activity(
            name,
            action_input,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1), maximum_attempts=attempts
            ),
        )
