"""The Temporal worker: connects and registers IncidentWorkflow, every action activity and
the closing ones (the postmortem draft, the archived record); logs one line per failed
activity (not one per attempt)."""

from __future__ import annotations

import asyncio
import compileall
import inspect
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.oncall_notify import oncall_notify
from activities.oncall_page import Pager
from activities.registry import ACTIVITIES
from activities.slack_room import SLACK_ROOM_ACTIVITIES
from warroom.contract.client import connect, task_queue
from warroom.entry.stopping import stop_signal
from warroom.errors import WarroomError
from warroom.oncall.schedules import sync_schedules
from warroom.record.archiver import ArchiveWriter
from warroom.record.writer import PostmortemWriter
from workflows.incident import IncidentWorkflow
from workflows.schedule import ScheduleWorkflow

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


#: What the SDK logs, with a traceback, for every activity attempt that fails.
FAILED_LINE = "Completing activity as failed"


class ActivityFailureLog(logging.Filter):
    """One log line per failed activity instead of one per attempt: the SDK logs FAILED_LINE
    for every failed attempt, so a step retried five times said it five times. An attempt the
    retry policy will retry is left out; the line that remains says which attempt it was and
    that none follows. An error warroom raised on purpose (a `warroom.*` type: a 503 while
    verifying, say) is routine: its line says the error, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(FAILED_LINE):
            return True
        error = record.exc_info[1] if record.exc_info else None
        info = activity.info() if activity.in_activity() else None
        if info is None:
            return True
        retried, attempts = _retry_follows(error, info)
        if retried:
            return False
        record.msg = str(record.msg).replace(FAILED_LINE, f"{FAILED_LINE} ({attempts})", 1)
        if isinstance(error, ApplicationError) and (error.type or "").startswith("warroom."):
            record.exc_info = None
            record.msg = f"{record.msg}: {error.type}: {error.message}"
        return True


def _retry_follows(error: BaseException | None, info: activity.Info) -> tuple[bool, str]:
    """Whether the server will run the activity again after this failed attempt, and which
    attempt it was, in words."""
    policy, attempt = info.retry_policy, info.attempt
    if policy is None:
        return False, f"attempt {attempt}"
    kind = error.type if isinstance(error, ApplicationError) else type(error).__name__
    final = (isinstance(error, ApplicationError) and error.non_retryable) or (
        kind in (policy.non_retryable_error_types or ())
    )
    if final:
        return False, f"attempt {attempt}, not retried: the error is not retryable"
    if policy.maximum_attempts:
        last = attempt >= policy.maximum_attempts
        return not last, f"attempt {attempt} of {policy.maximum_attempts}, the last"
    # Retried until it succeeds: say so once, at the first failure.
    return attempt > 1, f"attempt {attempt}; retried until it succeeds, logged once"


def log_activity_failures_once() -> None:
    """Install ActivityFailureLog on the SDK's activity logger (once per process)."""
    logger = logging.getLogger("temporalio.activity")
    if not any(isinstance(f, ActivityFailureLog) for f in logger.filters):
        logger.addFilter(ActivityFailureLog())


def build_worker(client: Client, queue: str | None = None) -> Worker:
    compile_workflows()
    log_activity_failures_once()
    return Worker(
        client,
        task_queue=queue or task_queue(),
        workflows=[IncidentWorkflow, ScheduleWorkflow],
        activities=[
            *ACTIVITIES,
            *SLACK_ROOM_ACTIVITIES,
            oncall_notify,
            *Pager(client).activities(),
            PostmortemWriter(client).write,
            ArchiveWriter(client).write,
        ],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def start_schedules(client: Client, queue: str | None = None) -> list[str]:
    """Start every schedule of the current oncall.yaml, or send a running one its rules as the
    file has them now (signal-with-start): how a changed file reaches the schedules. A file
    with problems is logged, one line per problem, and leaves the schedules as they were."""
    try:
        return await sync_schedules(client, queue=queue)
    except WarroomError as exc:
        logging.getLogger(__name__).error("on-call schedules not updated:\n%s", exc)
        return []


async def run_worker(
    address: str | None = None, on_stop: Callable[[str], None] = lambda signal: None
) -> None:
    """Poll until SIGINT or SIGTERM, then stop polling and let running activities finish."""
    stop = stop_signal()
    client = await connect(address)
    worker = build_worker(client)
    await start_schedules(client)
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
