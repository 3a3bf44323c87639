"""A worker process for the plain-Temporal baselines: `python -m bench.plain_worker QUEUE`
(TEMPORAL_ADDRESS as for warroom's worker); stops on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import sys

from temporalio.worker import Worker

from bench.plain_activity import plain_get, plain_post
from bench.plain_workflow import PlainCadence, PlainGate, PlainSteps
from warroom.contract.client import connect
from warroom.entry.stopping import stop_signal


async def main(queue: str) -> None:
    stop = stop_signal()
    workflows = [PlainSteps, PlainGate, PlainCadence]
    worker = Worker(
        await connect(), task_queue=queue, workflows=workflows, activities=[plain_get, plain_post]
    )
    async with worker:
        await stop


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
