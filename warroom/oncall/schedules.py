"""On-call operations every face offers: start the schedules' workflows with the current
oncall.yaml, ask who is on call and the shifts of a range, add or cancel an override. Plain
models in and out; errors are WarroomErrors with one line saying what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from warroom.contract.client import task_queue
from warroom.contract.oncall import (
    SCHEDULE_WORKFLOW,
    OnCallAnswer,
    OnCallAt,
    OverrideAccepted,
    OverrideCancel,
    OverrideRequest,
    ScheduleDefinition,
    ScheduleInput,
    ScheduleState,
    ShiftRange,
    Shifts,
    schedule_workflow_id,
)
from warroom.errors import WarroomError
from warroom.language.oncall import OnCallFile, Override
from warroom.language.oncall_file import find_oncall, load_oncall, oncall_people

T = TypeVar("T")

#: How long an override waits for a worker to answer before it is reported as not applied.
UPDATE_BOUND = timedelta(seconds=30)


class ScheduleNotFound(WarroomError):
    """No schedule of that name in oncall.yaml, or its workflow is not running."""


class OverrideRefused(WarroomError):
    """The schedule's workflow refused the override (the reason is the message)."""


class NoWorker(WarroomError):
    """No worker answered within UPDATE_BOUND."""


def current_oncall() -> OnCallFile:
    """The on-call file in use ($WARROOM_ONCALL or oncall.yaml beside the runbooks)."""
    return load_oncall(find_oncall())


async def sync_schedules(
    client: Client, oncall: OnCallFile | None = None, queue: str | None = None
) -> list[str]:
    """Start each schedule's workflow, or send a running one the current rules: one
    signal-with-start per schedule (signal `definition`). Returns the schedule names."""
    parsed = oncall if oncall is not None else current_oncall()
    for name, schedule in parsed.schedules.items():
        await client.start_workflow(
            SCHEDULE_WORKFLOW,
            ScheduleInput(name=name, schedule=schedule),
            id=schedule_workflow_id(name),
            task_queue=queue or task_queue(),
            start_signal="definition",
            start_signal_args=[ScheduleDefinition(schedule=schedule)],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"on-call schedule {name}",
        )
    return sorted(parsed.schedules)


def check_known(name: str, oncall: OnCallFile) -> None:
    if name not in oncall.schedules:
        known = ", ".join(sorted(oncall.schedules)) or "none (add an oncall.yaml)"
        raise ScheduleNotFound(f"no schedule {name!r}; schedules in oncall.yaml: {known}")


def _not_running(name: str) -> ScheduleNotFound:
    return ScheduleNotFound(
        f"schedule {name!r} is not running: start the worker (`warroom dev` or `warroom "
        "worker`), which starts every schedule in oncall.yaml"
    )


async def who_is_on_call(
    client: Client, names: list[str] | None, at: datetime, oncall: OnCallFile | None = None
) -> list[OnCallAnswer]:
    """Who is on call at `at` for each schedule named (all of them when `names` is empty)."""
    parsed = oncall if oncall is not None else current_oncall()
    wanted = names or sorted(parsed.schedules)
    for name in wanted:
        check_known(name, parsed)
    return [
        await _query(client, name, "who_is_on_call", OnCallAt(at=at), OnCallAnswer)
        for name in wanted
    ]


async def shifts(
    client: Client, name: str, start: datetime, end: datetime, oncall: OnCallFile | None = None
) -> Shifts:
    check_known(name, oncall if oncall is not None else current_oncall())
    return await _query(client, name, "shifts", ShiftRange(start=start, end=end), Shifts)


async def _query(client: Client, name: str, query: str, arg: object, answer: type[T]) -> T:
    """Ask the schedule's workflow `query` (with `arg`; None: none)."""
    handle = client.get_workflow_handle(schedule_workflow_id(name))
    try:
        args = [] if arg is None else [arg]
        result: T = await handle.query(query, args=args, result_type=answer)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _not_running(name) from None
        raise
    return result


async def add_override(
    client: Client, name: str, request: OverrideRequest, oncall: OnCallFile | None = None
) -> OverrideAccepted:
    """Ask the schedule's workflow to take the override; its validator's refusal is
    OverrideRefused, and no answer within UPDATE_BOUND is NoWorker (nothing applied is
    reported as applied)."""
    check_known(name, oncall if oncall is not None else current_oncall())
    accepted = await _update(client, name, "override", request, OverrideAccepted)
    if oncall_people().get(request.who) is None:
        unreachable = f"{request.who} is not in people.yaml: no shift notice or page reaches them"
        warning = f"{accepted.warning}; {unreachable}" if accepted.warning else unreachable
        accepted = accepted.model_copy(update={"warning": warning})
    return accepted


async def cancel_override(
    client: Client,
    name: str,
    override_id: str,
    by: str,
    reason: str | None = None,
    *,
    allowed: Callable[[Override], object] | None = None,
    oncall: OnCallFile | None = None,
) -> Override:
    """Cancel override `override_id` of schedule `name` (one that has begun ends now); the
    override as it was. `allowed` is shown the override first and raises to refuse (the
    faces' role check). Errors as add_override's: OverrideRefused for an unknown id or one
    that has ended, with the workflow's reason."""
    check_known(name, oncall if oncall is not None else current_oncall())
    request = OverrideCancel(id=override_id, by=by, reason=reason)
    if allowed is not None:
        state = await _query(client, name, "state", None, ScheduleState)
        found = next((o for o in state.overrides if o.id == override_id), None)
        if found is not None:  # an unknown id: the workflow's refusal lists the ids
            allowed(found)
    return await _update(client, name, "cancel_override", request, Override)


async def _update(client: Client, name: str, update: str, arg: object, answer: type[T]) -> T:
    """Run `update` on the schedule's workflow: its validator's refusal is OverrideRefused,
    no answer within UPDATE_BOUND NoWorker (nothing applied is reported as applied)."""
    handle = client.get_workflow_handle(schedule_workflow_id(name))
    try:
        result: T = await asyncio.wait_for(
            handle.execute_update(update, arg, result_type=answer), UPDATE_BOUND.total_seconds()
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise OverrideRefused(getattr(cause, "message", None) or str(cause)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _not_running(name) from None
        raise
    except TimeoutError:
        raise NoWorker(
            f"no worker answered within {int(UPDATE_BOUND.total_seconds())} s; the change "
            "may still apply when one returns: check with `warroom oncall shifts`"
        ) from None
    return result


@dataclass(frozen=True)
class OverrideAsked:
    """An override as a person typed it, its times read in the schedule's zone."""

    request: OverrideRequest
    oncall: OnCallFile
    zone: str


def ask_override(
    schedule: str, *, who: str, start: str, end: str, by: str, reason: str, replace: bool = False
) -> OverrideAsked:
    """The override request of typed times (`parse_time`, in `schedule`'s zone), for the
    faces that take text (CLI, console, chat). ScheduleNotFound, WarroomError for a time that
    does not parse, ValidationError for the request."""
    oncall = current_oncall()
    check_known(schedule, oncall)
    zone = oncall.schedules[schedule].timezone
    request = OverrideRequest(
        who=who,
        start=parse_time(start, zone),
        end=parse_time(end, zone),
        by=by,
        reason=reason,
        replace=replace,
    )
    return OverrideAsked(request, oncall, zone)


def parse_time(text: str, timezone: str) -> datetime:
    """ "2026-12-24 09:00" in the schedule's time zone, unless it carries an offset or Z; "now"."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise WarroomError(
            f"{text!r} is not a time: write e.g. '2026-12-24 09:00' (in the schedule's time "
            "zone), '2026-12-24T08:00Z' or '2026-12-24 09:00+01:00'"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)
