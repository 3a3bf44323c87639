"""The `warroom` command line face: declare, list, show, human decisions (approve, reject, retry,
skip, abort, ack, assign, note, severity, resolve), timeline, postmortem, report, search,
archive, runbooks.
The commands that start servers (dev, worker, serve, demo) and `rehearse` are added by
`warroom.entry.main`, the console script."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast, get_args

import typer
from pydantic import BaseModel
from temporalio.client import Client

from warroom.cli import archive as cli_archive
from warroom.cli import oncall as cli_oncall
from warroom.cli import render, story
from warroom.cli import runbooks as cli_runbooks
from warroom.cli.errors import (
    OneLineErrors,
)
from warroom.contract import names
from warroom.contract.client import connect, task_queue
from warroom.contract.models import (
    Abort,
    Acknowledge,
    Assign,
    Decision,
    HumanDecision,
    IncidentState,
    Note,
    Resolve,
    Role,
    SetSeverity,
    StepCommand,
)
from warroom.incidents import archived, decisions, views
from warroom.incidents.declare import Declared
from warroom.incidents.declare import declare as declare_incident
from warroom.language.loader import load_with_teams
from warroom.language.params import coerce_params, parse_param_args
from warroom.language.runbook import Severity
from warroom.record.plain_text import metrics_lines
from warroom.text import escape

T = TypeVar("T")

app = typer.Typer(
    help="warroom: every production incident is a durable Temporal workflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,  # every expected error becomes one `error:` line, exit 1
)

app.add_typer(cli_runbooks.app, name="runbooks")
app.add_typer(cli_archive.app, name="archive")
app.command("search")(cli_archive.search)
app.add_typer(cli_oncall.app, name="oncall")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
IncidentId = Annotated[
    str, typer.Argument(help="Incident id (inc-...).", callback=names.incident_id)
]
StepId = Annotated[str, typer.Argument(help="Step id from the runbook.", callback=names.step_id)]
By = Annotated[
    str,
    typer.Option("--by", help="Who decides (must be a listed approver).", callback=names.person),
]
Comment = Annotated[str, typer.Option("--comment", help="Why; goes into the timeline.")]
Actor = Annotated[str, typer.Option("--by", help="Who does it (your name).", callback=names.person)]


def _choice(what: str, choices: tuple[str, ...], value: str | None) -> str | None:
    """`value` as one of `choices` (case-insensitive), refused before connecting otherwise."""
    if value is None:
        return None
    chosen = next((c for c in choices if c.lower() == value.lower()), None)
    if chosen is None:
        raise names.InvalidArgument(
            f"{what} {escape(value)!r}: use {', '.join(choices[:-1])} or {choices[-1]}"
        )
    return chosen


def _severity(value: str | None) -> str | None:
    return _choice("severity", get_args(Severity), value)


def _role(value: str) -> str:
    return _choice("role", get_args(Role), value) or value


SeverityArg = Annotated[
    str, typer.Argument(help="SEV1 (worst) .. SEV4.", metavar="SEVn", callback=_severity)
]


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run async work (errors it raises become one line in OneLineErrors)."""
    return asyncio.run(work())


def with_client(work: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        return await work(await connect())

    return run(go)


def emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        typer.echo(value.model_dump_json(indent=2, by_alias=True))
    else:
        typer.echo(json.dumps(value, indent=2, default=str))


@app.command()
def declare(
    runbook: Annotated[str, typer.Option("--runbook", help="Runbook name or path to a .yaml.")],
    summary: Annotated[str, typer.Option("--summary", help="What is happening, in a line.")],
    severity: Annotated[
        str | None,
        typer.Option("--severity", help="SEV1..SEV4 (default: the runbook's).", callback=_severity),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who declares (default: $USER).", callback=names.person),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE for one of the runbook's params (repeatable)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Declare an incident: start its workflow on the runbook; prints the incident id."""
    # `group:` approvers resolve against the teams.yaml found beside the runbook (or
    # $WARROOM_TEAMS), so the workflow input names the people who may decide.
    parsed, teams = load_with_teams(runbook)
    given = parse_param_args(param or [])
    coerce_params(parsed.params, given)  # refused here, before connecting, when wrong
    who = by or os.environ.get("USER") or getpass.getuser()
    incident_id = with_client(
        lambda c: declare_incident(
            c,
            parsed,
            summary,
            severity=cast(Severity | None, severity),
            declared_by=who,
            params=given,
            teams=teams,
        )
    )
    if as_json:
        declared = Declared(incident_id=incident_id, runbook=parsed.name, task_queue=task_queue())
        emit_json(declared.model_dump(mode="json"))
    else:
        typer.echo(incident_id)


@app.command("list")
def list_(
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 50,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only this status (active, resolved, stalled, ...)."),
    ] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", help="Only this severity.", callback=_severity)
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    runbook: Annotated[str | None, typer.Option("--runbook", help="Only this runbook.")] = None,
    from_archive: Annotated[
        bool,
        typer.Option(
            "--archived",
            help="List the archive (WARROOM_ARCHIVE_URL) instead of Temporal: closed incidents,"
            " kept after Temporal's retention, most recently closed first.",
        ),
    ] = False,
) -> None:
    """List incidents: open ones first (newest first), then closed ones (most recently closed
    first); the filters apply before the limit. Temporal's, or with --archived the archive's."""
    wanted = {"status": status, "severity": severity, "service": service, "runbook": runbook}
    if from_archive:
        found = run(lambda: archived.archived_list(limit=limit, **wanted))
    else:
        found = with_client(
            lambda c: views.list_incidents(
                c, limit=limit, status=status, severity=severity, service=service, runbook=runbook
            )
        )
    if as_json:
        emit_json([i.model_dump(mode="json") for i in found])
    else:
        typer.echo(render.list_text(found))


@app.command()
def show(incident_id: IncidentId, as_json: JsonFlag = False) -> None:
    """Show an incident: status, phase, each step's state and attempts, pending approvals."""
    shown = with_client(lambda c: views.show(c, incident_id))
    if as_json:
        emit_json(shown.json())
    else:
        typer.echo(
            "\n".join(
                [
                    render.incident_text(shown.state),
                    *metrics_lines(shown.metrics),
                    render.encryption_line(shown.story.run_keys),
                ]
            )
        )


def _decide(
    kind: Literal["approve", "reject"],
    incident_id: str,
    step: str,
    by: str,
    comment: str,
    as_json: bool,
) -> None:
    _command(incident_id, kind, Decision(step=step, by=by, comment=comment), as_json)


@app.command()
def approve(
    incident_id: IncidentId, step: StepId, by: By, comment: Comment = "", as_json: JsonFlag = False
) -> None:
    """Approve a step that is waiting for approval (one of its quorum of distinct people)."""
    _decide("approve", incident_id, step, by, comment, as_json)


@app.command()
def reject(
    incident_id: IncidentId, step: StepId, by: By, comment: Comment = "", as_json: JsonFlag = False
) -> None:
    """Reject a step that is waiting for approval: the incident ends as aborted."""
    _decide("reject", incident_id, step, by, comment, as_json)


def _command(
    incident_id: str, kind: decisions.Kind, decision: HumanDecision, as_json: bool = False
) -> None:
    """Send a human decision and print the workflow's answer (see `warroom.incidents.decisions`):
    applied (one line, or with --json the step or incident it answered with), refused with the
    reason, or not applied (and then never). Ctrl-C while waiting says what it means instead
    of leaving the decision's fate unknown."""

    def say(message: str) -> None:
        typer.echo(message, err=True)

    try:
        answer = with_client(lambda c: decisions.send(c, incident_id, kind, decision, notify=say))
    except decisions.StoppedWaiting as stopped:
        say(stopped.message)
        raise typer.Exit(130) from None
    if as_json:
        emit_json(views.state_json(answer) if isinstance(answer, IncidentState) else answer)
    else:
        typer.echo(render.decision_answer(incident_id, decision, answer))


@app.command()
def retry(incident_id: IncidentId, step: StepId, by: By, as_json: JsonFlag = False) -> None:
    """Run a step that failed after its retries once more."""
    _command(incident_id, "retry", StepCommand(step=step, by=by), as_json)


@app.command()
def skip(incident_id: IncidentId, step: StepId, by: By, as_json: JsonFlag = False) -> None:
    """Skip a step that failed after its retries and go on with the next."""
    _command(incident_id, "skip", StepCommand(step=step, by=by), as_json)


@app.command()
def abort(
    incident_id: IncidentId,
    by: By,
    reason: Annotated[str, typer.Option("--reason", help="Why; goes into the timeline.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Abort an open incident: a running step is cancelled, the incident ends as aborted."""
    _command(incident_id, "abort", Abort(by=by, reason=reason), as_json)


@app.command()
def ack(incident_id: IncidentId, by: Actor, as_json: JsonFlag = False) -> None:
    """Acknowledge the incident: escalation stops, and you become incident commander (unless
    one was assigned already)."""
    _command(incident_id, "acknowledge", Acknowledge(by=by), as_json)


@app.command()
def assign(
    incident_id: IncidentId,
    role: Annotated[
        str,
        typer.Argument(help="commander, comms or ops.", metavar="ROLE", callback=_role),
    ],
    to: Annotated[
        str, typer.Argument(help="Who takes the role.", metavar="TO", callback=names.person)
    ],
    by: Actor,
    as_json: JsonFlag = False,
) -> None:
    """Hand an incident role (commander, comms, ops) to someone."""
    _command(incident_id, "assign", Assign(role=cast(Role, role), to=to, by=by), as_json)


@app.command()
def note(
    incident_id: IncidentId,
    text: Annotated[str, typer.Argument(help="The note; goes into the timeline.")],
    by: Actor,
    as_json: JsonFlag = False,
) -> None:
    """Add a note to the incident's record."""
    _command(incident_id, "note", Note(text=text, by=by), as_json)


@app.command()
def severity(
    incident_id: IncidentId, level: SeverityArg, by: Actor, as_json: JsonFlag = False
) -> None:
    """Change the severity: status updates follow the new severity's cadence from now on."""
    _command(incident_id, "severity", SetSeverity(severity=cast(Severity, level), by=by), as_json)


@app.command()
def resolve(
    incident_id: IncidentId, by: Actor, comment: Comment = "", as_json: JsonFlag = False
) -> None:
    """All clear by hand: running steps and timers are cancelled, the incident ends resolved;
    answers once it is closed."""
    _command(incident_id, "resolve", Resolve(by=by, comment=comment), as_json)


@app.command()
def timeline(
    incident_id: IncidentId,
    as_json: JsonFlag = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table.")] = False,
    live: Annotated[
        bool, typer.Option("--follow", help="Go on printing new entries until the incident ends.")
    ] = False,
) -> None:
    """The incident's audited timeline, from its workflow history (all runs)."""
    fmt = "json" if as_json else "markdown" if markdown else "text"
    with_client(lambda c: story.show_timeline(c, incident_id, fmt, live))


@app.command()
def postmortem(
    incident_id: IncidentId,
    output: Annotated[Path | None, typer.Option("--output", help="Write it to FILE.")] = None,
) -> None:
    """The blameless postmortem draft (Markdown), from the incident's history alone."""
    draft = with_client(lambda c: story.postmortem_draft(c, incident_id))
    story.write_postmortem(draft, incident_id, output)


@app.command()
def report(
    since: Annotated[str, typer.Option("--since", help="How far back: 30d, 12h.")] = "30d",
    as_json: JsonFlag = False,
) -> None:
    """Across incidents: counts, median and p90 times, failing steps, who needed people.
    Archived incidents are counted from the archive (WARROOM_ARCHIVE_URL), the rest from
    Temporal's histories; each incident once."""
    window = story.since(since)
    with_client(lambda c: story.show_report(c, window, as_json))


@app.command()
def validate(
    runbooks: Annotated[
        list[str] | None,
        typer.Argument(help="Runbook files, directories or names (default: the catalogue)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check runbooks (short for `warroom runbooks validate`): errors name file:line:col and the fix."""
    raise typer.Exit(cli_runbooks.validate_paths(runbooks or [], as_json=as_json))
