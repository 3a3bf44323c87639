"""`warroom oncall …`: who is on call now, the shifts ahead, overrides, and the file's checks.

Times given on the command line are in the schedule's time zone unless they carry an offset or
`Z`; `now` asked of every schedule reads `--at` in UTC unless it carries one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from warroom.contract import names
from warroom.contract.client import connect
from warroom.contract.oncall import MAX_SHIFT_DAYS, OnCallAnswer, OverrideAccepted
from warroom.errors import RunbookError, WarroomError
from warroom.language.loader import catalogue
from warroom.language.oncall import Override, oncall_json_schema
from warroom.language.oncall_file import find_oncall, load_oncall, oncall_people, runbook_references
from warroom.language.oncall_time import local_text
from warroom.language.people import People
from warroom.oncall import schedules
from warroom.record.plain_text import table

T = TypeVar("T")

app = typer.Typer(
    help="On call: who is on call now, the shifts ahead, overrides (schedules in oncall.yaml).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ScheduleName = Annotated[str, typer.Argument(help="Schedule name from oncall.yaml.")]


def _with_client(work: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        return await work(await connect())

    return asyncio.run(go())


def _emit(value: BaseModel | list[Any]) -> None:
    if isinstance(value, BaseModel):
        typer.echo(value.model_dump_json(indent=2, by_alias=True))
    else:
        typer.echo("[" + ",\n".join(v.model_dump_json(indent=2) for v in value) + "]")


def _who(name: str | None, people: People) -> str:
    if name is None:
        return "nobody"
    shown = people.display(name)
    return name if shown == name else f"{name} ({shown})"


def _why(layer: int | None, override: Override | None) -> str:
    if override is not None:
        return f"override {override.id} by {override.by}: {override.reason}"
    return f"layer {layer + 1}" if layer is not None else "no layer has anyone"


@app.command()
def now(
    schedule: Annotated[str | None, typer.Argument(help="A schedule (default: all).")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="When (default: now), e.g. '2026-12-24 09:00'.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Who is on call, for one schedule or every one."""
    oncall = schedules.current_oncall()
    zone = oncall.schedules[schedule].timezone if schedule in oncall.schedules else "UTC"
    when = schedules.parse_time(at or "now", zone)
    answers: list[OnCallAnswer] = _with_client(
        lambda c: schedules.who_is_on_call(c, [schedule] if schedule else [], when, oncall)
    )
    if as_json:
        _emit(answers)
        return
    if not answers:
        typer.echo("no schedules: add an oncall.yaml next to the runbooks")
        return
    people = oncall_people()
    rows = [("SCHEDULE", "ON CALL", "UNTIL", "WHY")]
    for a in answers:
        tz = oncall.schedules[a.schedule].timezone
        until = local_text(a.until, tz) if a.until else "-"
        rows.append((a.schedule, _who(a.who, people), until, _why(a.layer, a.override)))
    typer.echo(table(rows))


@app.command()
def shifts(
    schedule: ScheduleName,
    days: Annotated[
        int, typer.Option("--days", min=1, max=MAX_SHIFT_DAYS, help="How many days ahead.")
    ] = 14,
    as_json: JsonFlag = False,
) -> None:
    """The shifts of the next days, overrides marked."""
    oncall = schedules.current_oncall()
    start = datetime.now(UTC)
    listed = _with_client(
        lambda c: schedules.shifts(c, schedule, start, start + timedelta(days=days), oncall)
    )
    if as_json:
        _emit(listed)
        return
    people = oncall_people()
    rows = [("FROM", "UNTIL", "ON CALL", "WHY")]
    for s in listed.shifts:
        mark = "* " if s.override else "  "
        rows.append(
            (
                mark + local_text(s.start, listed.timezone),
                local_text(s.end, listed.timezone),
                _who(s.who, people),
                _why(s.layer, s.override),
            )
        )
    typer.echo(table(rows))
    typer.echo(f"(times in {listed.timezone}; * an override)")


@app.command()
def override(
    schedule: ScheduleName,
    who: Annotated[str, typer.Option("--who", help="Who is on call instead (people.yaml name).")],
    start: Annotated[str, typer.Option("--from", help="From, e.g. '2026-12-24 09:00'.")],
    end: Annotated[str, typer.Option("--until", help="Until, e.g. '2026-12-27 09:00'.")],
    by: Annotated[
        str, typer.Option("--by", help="Who decides (your name).", callback=names.person)
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why: swap, sick, holiday…")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the overrides this one overlaps.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Put someone on call instead of the rotation, from --from until --until."""
    try:
        asked = schedules.ask_override(
            schedule, who=who, start=start, end=end, by=by, reason=reason, replace=replace
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = {"start": "--from", "end": "--until"}.get(
            str(first["loc"][0]), "--" + str(first["loc"][0])
        )
        raise WarroomError(f"{field}: {str(first['msg']).removeprefix('Value error, ')}") from None
    zone = asked.zone
    accepted: OverrideAccepted = _with_client(
        lambda c: schedules.add_override(c, schedule, asked.request, asked.oncall)
    )
    if as_json:
        _emit(accepted)
        return
    o = accepted.override
    typer.echo(
        f"override {o.id}: {o.who} is on call for {schedule} from {local_text(o.start, zone)} "
        f"until {local_text(o.end, zone)} ({o.reason})"
    )
    for gone in accepted.replaced:
        typer.echo(f"replaced {gone.id}: {gone.who} ({gone.reason})")
    if accepted.warning:
        typer.echo(f"note: {accepted.warning}")


@app.command("cancel-override")
def cancel_override(
    schedule: ScheduleName,
    override_id: Annotated[str, typer.Argument(help="The override's id (see `shifts`), e.g. o3.")],
    by: Annotated[
        str, typer.Option("--by", help="Who cancels (your name).", callback=names.person)
    ],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (optional).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Cancel an override: one not begun is removed, one in progress ends now (the rotation
    takes the shift back); the person it put on call is told."""
    oncall = schedules.current_oncall()
    gone: Override = _with_client(
        lambda c: schedules.cancel_override(c, schedule, override_id, by, reason, oncall=oncall)
    )
    if as_json:
        _emit(gone)
        return
    zone = oncall.schedules[schedule].timezone
    typer.echo(
        f"cancelled {gone.id}: {gone.who} is no longer on call for {schedule} from "
        f"{local_text(max(gone.start, datetime.now(UTC)), zone)} until {local_text(gone.end, zone)}"
    )


@app.command()
def validate() -> None:
    """Check oncall.yaml and what the runbooks name of it; exit 1 on a problem.

    The file is $WARROOM_ONCALL or oncall.yaml beside the runbooks; every runbook's escalation
    policy and `oncall:` approvers must name what it defines."""
    path = find_oncall()
    parsed = load_oncall(path)
    problems = [
        f"{where}: {problem}"
        for where, runbook in catalogue()
        if not isinstance(runbook, RunbookError)
        for problem in runbook_references(runbook, parsed)
    ]
    if problems:
        raise WarroomError("\n".join(problems))
    typer.echo(
        f"{path}: {len(parsed.schedules)} schedule(s), {len(parsed.policies)} policy(ies): ok"
        if path
        else "no oncall.yaml ($WARROOM_ONCALL or beside the runbooks)"
    )


@app.command()
def schema() -> None:
    """JSON Schema of oncall.yaml, for yaml-language-server."""
    typer.echo(json.dumps(oncall_json_schema(), indent=2))
