"""The console's on-call page: each schedule's next two weeks as a grid (overrides marked),
who is on call now, an override form and a cancel button beside each override (session and
CSRF as the decision forms; `by` is the signed-in person), through the same application code
as the CLI and API (`warroom.oncall`)."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from warroom.access.roles import RoleRequired, may_cancel_override, may_override
from warroom.access.tokens import Tokens
from warroom.console import render, session
from warroom.console.pages import TOKEN_IN_TEXT, Actor, ConsoleRoute, Who, client_of
from warroom.contract.invalid_input import one_line
from warroom.errors import WarroomError
from warroom.oncall import schedules
from warroom.oncall.grid import grid

router = APIRouter(prefix=session.PREFIX, include_in_schema=False, route_class=ConsoleRoute)

#: How far ahead the grid shows.
GRID_DAYS = 14
FIELDS = ("who", "from", "until", "reason", "replace")


async def _schedules(request: Request) -> list[dict[str, Any]]:
    oncall = schedules.current_oncall()
    client = await client_of(request)
    now = datetime.now(UTC)
    shown: list[dict[str, Any]] = []
    for name, plan in sorted(oncall.schedules.items()):
        tz = ZoneInfo(plan.timezone)
        first_day = now.astimezone(tz).date()
        start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        end = start + timedelta(days=GRID_DAYS + 1)
        try:
            listed = await schedules.shifts(client, name, start, end, oncall)
            [current] = await schedules.who_is_on_call(client, [name], now, oncall)
        except schedules.ScheduleNotFound as exc:  # its workflow is not running
            shown.append({"name": name, "timezone": plan.timezone, "problem": str(exc)})
            continue
        overrides = {s.override.id: s.override for s in listed.shifts if s.override}
        shown.append(
            {
                "name": name,
                "timezone": plan.timezone,
                "now": current,
                "rows": grid(listed, first_day, GRID_DAYS),
                "overrides": sorted(overrides.values(), key=lambda o: o.start),
                "members": plan.members(),
            }
        )
    return shown


@router.get("/oncall")
async def oncall_page(request: Request, me: Who) -> HTMLResponse:
    done = None
    for key, said in (("done", "made"), ("cancelled", "cancelled")):
        given = request.query_params.get(key, "")
        if re.fullmatch(r"o\d{1,9}", given):
            done = f"override {given} {said}"
    return render.page(request, "oncall.html", schedules=await _schedules(request), done=done)


@router.post("/oncall/{schedule}/override")
async def override(request: Request, schedule: str, me: Actor) -> Response:
    """An override as `warroom oncall override` makes it, by the signed-in person; refused:
    the page again with the reason."""
    fields = await session.form(request, FIELDS)
    may_override(me, fields.get("who", "").strip())
    tokens: Tokens = request.app.state.tokens
    if tokens.found_in(*fields.values()):
        return await _refused(request, 422, f"no override for {schedule}: {TOKEN_IN_TEXT}")
    try:
        asked = schedules.ask_override(
            schedule,
            who=fields.get("who", "").strip(),
            start=fields.get("from", ""),
            end=fields.get("until", ""),
            by=me.identity,
            reason=fields.get("reason", ""),
            replace=fields.get("replace") == "on",
        )
        accepted = await schedules.add_override(
            await client_of(request), schedule, asked.request, asked.oncall
        )
    except ValidationError as exc:
        problem = f"no override for {schedule}: {one_line(exc.errors())}"
        return await _refused(request, 422, problem)
    except WarroomError as exc:
        return await _refused(request, _status(exc), f"no override for {schedule}: {exc}")
    made = accepted.override.id
    return RedirectResponse(f"{session.PREFIX}/oncall?done={made}#oncall-{schedule}", 303)


@router.post("/oncall/{schedule}/overrides/{override_id}/cancel")
async def cancel(request: Request, schedule: str, override_id: str, me: Actor) -> Response:
    """Cancel an override as `warroom oncall cancel-override` does, by the signed-in person
    (`may_cancel_override`); refused: the page again with the reason."""
    fields = await session.form(request, ("reason",))
    reason = fields.get("reason", "")
    tokens: Tokens = request.app.state.tokens
    if tokens.found_in(reason):
        return await _refused(request, 422, f"{override_id} not cancelled: {TOKEN_IN_TEXT}")
    try:
        await schedules.cancel_override(
            await client_of(request),
            schedule,
            override_id,
            me.identity,
            reason,
            allowed=functools.partial(may_cancel_override, me),
        )
    except ValidationError as exc:
        return await _refused(
            request, 422, f"{override_id} not cancelled: {one_line(exc.errors())}"
        )
    except WarroomError as exc:
        return await _refused(request, _status(exc), f"{override_id} not cancelled: {exc}")
    where = f"cancelled={override_id}#oncall-{schedule}"
    return RedirectResponse(f"{session.PREFIX}/oncall?{where}", 303)


def _status(exc: WarroomError) -> int:
    """The status a refusal is said with (a time that does not parse: 422)."""
    statuses: list[tuple[type[WarroomError], int]] = [
        (RoleRequired, 403),
        (schedules.ScheduleNotFound, 404),
        (schedules.OverrideRefused, 409),
        (schedules.NoWorker, 503),
    ]
    return next((status for kind, status in statuses if isinstance(exc, kind)), 422)


async def _refused(request: Request, status: int, problem: str) -> HTMLResponse:
    return render.page(
        request, "oncall.html", status, schedules=await _schedules(request), error=problem
    )
