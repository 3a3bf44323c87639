"""`/v1/oncall`: who is on call (every schedule, or one, now or `at`), a schedule's shifts, and
overrides (made and cancelled), through the same application code as `warroom oncall`
(`warroom.oncall`). With tokens, an override's or a cancel's `by` is the caller's identity; a
body naming someone else is refused."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from warroom.access.roles import may_cancel_override, may_override
from warroom.api.auth import caller
from warroom.api.errors import responses
from warroom.api.incidents import Acting, Temporal, actor, no_token_in
from warroom.contract.oncall import (
    MAX_SHIFT_DAYS,
    OnCallAnswer,
    OverrideAccepted,
    OverrideRequest,
    Shifts,
)
from warroom.errors import WarroomError
from warroom.language.oncall import OnCallFile, Override
from warroom.oncall import schedules

router = APIRouter(
    prefix="/v1/oncall",
    tags=["oncall"],
    dependencies=[Depends(caller)],
    responses=responses(401, 403, 404, 409, 422, 503),
)

ScheduleName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)]
At = Annotated[
    str | None,
    Query(description="When (default: now): ISO 8601; without an offset, the schedule's zone."),
]
Caller = Annotated[str | None, Depends(caller)]


def _when(at: str | None, zone: str) -> datetime:
    try:
        return schedules.parse_time(at or "now", zone)
    except WarroomError as exc:
        raise HTTPException(422, f"at: {exc}") from None


@router.get("", summary="Who is on call for every schedule")
async def everyone(temporal: Temporal, at: At = None) -> list[OnCallAnswer]:
    oncall = schedules.current_oncall()
    return await schedules.who_is_on_call(await temporal(), [], _when(at, "UTC"), oncall)


def _oncall(name: str) -> OnCallFile:
    oncall = schedules.current_oncall()
    schedules.check_known(name, oncall)
    return oncall


@router.get("/{schedule}", summary="Who is on call for a schedule")
async def one(schedule: ScheduleName, temporal: Temporal, at: At = None) -> OnCallAnswer:
    oncall = _oncall(schedule)
    when = _when(at, oncall.schedules[schedule].timezone)
    [answer] = await schedules.who_is_on_call(await temporal(), [schedule], when, oncall)
    return answer


@router.get("/{schedule}/shifts", summary="A schedule's shifts from now, overrides included")
async def shifts(
    schedule: ScheduleName,
    temporal: Temporal,
    days: Annotated[int, Query(ge=1, le=MAX_SHIFT_DAYS)] = 14,
) -> Shifts:
    oncall = _oncall(schedule)
    start = datetime.now(UTC)
    end = start + timedelta(days=days)
    return await schedules.shifts(await temporal(), schedule, start, end, oncall)


class OverrideBody(BaseModel):
    """An override: `who` on call from `start` until `end` (ISO 8601 with an offset)."""

    who: str
    start: AwareDatetime
    end: AwareDatetime
    reason: str
    by: str | None = Field(None, description="Who decides; with tokens, the caller.")
    replace: bool = False


@router.post("/{schedule}/overrides", status_code=201, summary="Put someone on call instead")
async def add_override(
    schedule: ScheduleName, body: OverrideBody, identity: Acting, temporal: Temporal
) -> OverrideAccepted:
    """A responder may put themselves on call; putting someone else on call needs admin."""
    by = actor(identity, body.by)
    if identity is not None:
        may_override(identity, body.who)
    oncall = _oncall(schedule)
    request = OverrideRequest(
        who=body.who,
        start=body.start,
        end=body.end,
        by=by,
        reason=body.reason,
        replace=body.replace,
    )
    return await schedules.add_override(await temporal(), schedule, request, oncall)


class CancelBody(BaseModel):
    """Why the override is cancelled (optional)."""

    reason: str | None = Field(None, max_length=500)
    by: str | None = Field(None, description="Who cancels; with tokens, the caller.")


OverrideId = Annotated[str, Path(pattern=r"^o[0-9]{1,9}$", description="o1, o2, ...")]


@router.delete("/{schedule}/overrides/{override_id}", summary="Cancel an override")
async def cancel_override(
    schedule: ScheduleName,
    override_id: OverrideId,
    request: Request,
    identity: Acting,
    temporal: Temporal,
    body: CancelBody | None = None,
) -> Override:
    """One not begun is removed, one in progress ends now; the answer is the override as it
    was. A responder may cancel one that put them on call or that they made; any other one
    needs admin."""
    asked = body or CancelBody()
    no_token_in(request, asked)  # the reason goes into the person's notice
    by = actor(identity, asked.by)
    oncall = _oncall(schedule)
    allowed = None if identity is None else functools.partial(may_cancel_override, identity)
    return await schedules.cancel_override(
        await temporal(), schedule, override_id, by, asked.reason, allowed=allowed, oncall=oncall
    )
