"""The Temporal worker: connects and registers IncidentWorkflow, every action activity and
the closing ones (the postmortem draft, the archived record)."""

from __future__ import annotations

import asyncio
import compileall
import inspect
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.registry import ACTIVITIES
from warroom.contract.client import connect, task_queue
from warroom.entry.stopping import stop_signal
from warroom.record.archiver import ArchiveWriter
from warroom.record.writer import PostmortemWriter
from workflows.incident import IncidentWorkflow

#: How long running activities may go on after a stop signal before they are cancelled;
#: under Kubernetes' default 30 s grace period, so the worker exits before SIGKILL.
GRACEFUL_SHUTDOWN = timedelta(seconds=25)


def compile_workflows() -> None:
    """Write the workflow modules' bytecode if it is missing (best effort).

    The sandbox imports the workflow module afresh for every workflow run it starts (each new
    incident, each replay after a cache eviction). Without a `.pyc` (PYTHONDONTWRITEBYTECODE=1,
    as in many container images, or an editable install) that is a compile of
    workflows/incident.py each time: measured at about 7 ms of the ~15 ms a run's sandbox took,
    the largest part of warroom's per-step overhead over plain Temporal (README, Benchmark).
    Only incident.py is imported per run now: the rooms it composes (workflows/steps.py, ...)
    pass through the sandbox and are imported once per worker.
    """
    compileall.compile_dir(Path(inspect.getfile(IncidentWorkflow)).parent, quiet=2)


def build_worker(client: Client, queue: str | None = None) -> Worker:
    compile_workflows()
    return Worker(
        client,
        task_queue=queue or task_queue(),
        workflows=[IncidentWorkflow],
        activities=[*ACTIVITIES, PostmortemWriter(client).write, ArchiveWriter(client).write],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def run_worker(
    address: str | None = None, on_stop: Callable[[str], None] = lambda signal: None
) -> None:
    """Poll until SIGINT or SIGTERM, then stop polling and let running activities finish."""
    stop = stop_signal()
    worker = build_worker(await connect(address))
    running = asyncio.create_task(worker.run())
    either: set[asyncio.Future[Any]] = {running, stop}
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if stop.done():
        on_stop(stop.result())
        await worker.shutdown()
    else:
        stop.cancel()
    await running  # the worker's own error, if it failed


if __name__ == "__main__":
    asyncio.run(run_worker())
