"""The Temporal worker: connects and registers IncidentWorkflow and every action activity."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.worker import Worker

from activities.registry import ACTIVITIES
from warroom.client import connect, task_queue
from workflows.incident import IncidentWorkflow


def build_worker(client: Client, queue: str | None = None) -> Worker:
    return Worker(
        client,
        task_queue=queue or task_queue(),
        workflows=[IncidentWorkflow],
        activities=ACTIVITIES,
    )


async def run_worker(address: str | None = None) -> None:
    """Poll until cancelled (Ctrl-C)."""
    client = await connect(address)
    await build_worker(client).run()


if __name__ == "__main__":
    asyncio.run(run_worker())
