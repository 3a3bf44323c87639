"""The console's on-call page: each schedule's next two weeks as a grid (overrides marked),
who is on call now, and an override form (session and CSRF as the decision forms; `by` is the
signed-in person), through the same application code as the CLI and API (`warroom.oncall`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from warroom.access.roles import may_override
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
    made = request.query_params.get("done", "")
    done = f"override {made} made" if re.fullmatch(r"o\d{1,9}", made) else None
    return render.page(request, "oncall.html", schedules=await _schedules(request), done=done)


@router.post("/oncall/{schedule}/override")
async def override(request: Request, schedule: str, me: Actor) -> Response:
    """An override as `warroom oncall override` makes it, by the signed-in person; refused:
    the page again with the reason."""
    fields = await session.form(request, FIELDS)
    may_override(me, fields.get("who", "").strip())
    tokens: Tokens = request.app.state.tokens
    if tokens.found_in(*fields.values()):
        return await _refused(request, 422, TOKEN_IN_TEXT, schedule)
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
        return await _refused(request, 422, one_line(exc.errors()), schedule)
    except schedules.ScheduleNotFound as exc:
        return await _refused(request, 404, str(exc), schedule)
    except schedules.OverrideRefused as exc:
        return await _refused(request, 409, str(exc), schedule)
    except schedules.NoWorker as exc:
        return await _refused(request, 503, str(exc), schedule)
    except WarroomError as exc:  # a time that does not parse
        return await _refused(request, 422, str(exc), schedule)
    made = accepted.override.id
    return RedirectResponse(f"{session.PREFIX}/oncall?done={made}#oncall-{schedule}", 303)


async def _refused(request: Request, status: int, problem: str, schedule: str) -> HTMLResponse:
    return render.page(
        request,
        "oncall.html",
        status,
        schedules=await _schedules(request),
        error=f"no override for {schedule}: {problem}",
    )
