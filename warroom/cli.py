"""The `warroom` command line: declare, list, show, approve/reject, timeline, dev, worker, demo."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import typer
from pydantic import BaseModel
from temporalio.client import Client

from warroom import cli_args, cli_runbooks, decisions, incidents, render
from warroom.cli_errors import (
    OneLineErrors,
    debugging,
    refuse,
    unexpected_line,
)
from warroom.client import connect, task_queue
from warroom.models import Abort, Decision, HumanDecision, StepCommand, StepState
from warroom.runbook import Severity
from warroom.runbook_loader import load_runbook
from warroom.runbook_params import coerce_params, parse_param_args
from warroom.timeline import timeline as read_timeline

T = TypeVar("T")

app = typer.Typer(
    help="warroom: every production incident is a durable Temporal workflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,  # every expected error becomes one `error:` line, exit 1
)

app.add_typer(cli_runbooks.app, name="runbooks")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
IncidentId = Annotated[
    str, typer.Argument(help="Incident id (inc-...).", callback=cli_args.incident_id)
]
StepId = Annotated[str, typer.Argument(help="Step id from the runbook.", callback=cli_args.step_id)]
By = Annotated[
    str,
    typer.Option("--by", help="Who decides (must be a listed approver).", callback=cli_args.person),
]
Comment = Annotated[str, typer.Option("--comment", help="Why; goes into the timeline.")]


def fail(message: str) -> NoReturn:
    refuse(message)


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
        str | None, typer.Option("--severity", help="SEV1..SEV4 (default: the runbook's).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who declares (default: $USER).", callback=cli_args.person),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE for one of the runbook's params (repeatable)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Declare an incident: start its workflow on the runbook; prints the incident id."""
    if severity is not None and severity.upper() not in ("SEV1", "SEV2", "SEV3", "SEV4"):
        fail(f"--severity {severity!r}: use SEV1, SEV2, SEV3 or SEV4")
    parsed = load_runbook(runbook)
    given = parse_param_args(param or [])
    coerce_params(parsed.params, given)  # refused here, before connecting, when wrong
    sev: Severity | None = severity.upper() if severity else None  # type: ignore[assignment]
    who = by or os.environ.get("USER") or getpass.getuser()
    incident_id = with_client(
        lambda c: incidents.declare(c, parsed, summary, severity=sev, declared_by=who, params=given)
    )
    if as_json:
        emit_json({"incident_id": incident_id, "runbook": parsed.name, "task_queue": task_queue()})
    else:
        typer.echo(incident_id)


@app.command("list")
def list_(
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
) -> None:
    """List incidents, newest first."""
    found = with_client(lambda c: incidents.list_incidents(c, limit=limit))
    if as_json:
        emit_json([i.model_dump(mode="json") for i in found])
    else:
        typer.echo(render.list_text(found))


@app.command()
def show(incident_id: IncidentId, as_json: JsonFlag = False) -> None:
    """Show an incident: status, phase, each step's state and attempts, pending approvals."""
    state = with_client(lambda c: incidents.status(c, incident_id))
    if as_json:
        data = state.model_dump(mode="json")
        data["pending_approvals"] = [s.id for s in state.pending_approvals]
        emit_json(data)
    else:
        typer.echo(render.incident_text(state))


def _decide(
    kind: Literal["approve", "reject"], incident_id: str, step: str, by: str, comment: str
) -> None:
    _command(incident_id, kind, Decision(step=step, by=by, comment=comment))


@app.command()
def approve(incident_id: IncidentId, step: StepId, by: By, comment: Comment = "") -> None:
    """Approve a step that is waiting for approval."""
    _decide("approve", incident_id, step, by, comment)


@app.command()
def reject(incident_id: IncidentId, step: StepId, by: By, comment: Comment = "") -> None:
    """Reject a step that is waiting for approval: the incident ends as aborted."""
    _decide("reject", incident_id, step, by, comment)


def _command(incident_id: str, kind: decisions.Kind, decision: HumanDecision) -> None:
    """Send a human decision and print the workflow's answer (see `warroom.decisions`):
    applied, refused with the reason, or not applied (and then never). Ctrl-C while waiting
    says what it means instead of leaving the decision's fate unknown."""

    def say(message: str) -> None:
        typer.echo(message, err=True)

    try:
        answer = with_client(lambda c: decisions.send(c, incident_id, kind, decision, notify=say))
    except decisions.StoppedWaiting as stopped:
        say(stopped.message)
        raise typer.Exit(130) from None
    if isinstance(answer, StepState):
        typer.echo(f"{incident_id} {render.step_line(answer)}")
    else:
        typer.echo(f"{incident_id}: {answer.status} — {answer.outcome}")


@app.command()
def retry(incident_id: IncidentId, step: StepId, by: By) -> None:
    """Run a step that failed after its retries once more."""
    _command(incident_id, "retry", StepCommand(step=step, by=by))


@app.command()
def skip(incident_id: IncidentId, step: StepId, by: By) -> None:
    """Skip a step that failed after its retries and go on with the next."""
    _command(incident_id, "skip", StepCommand(step=step, by=by))


@app.command()
def abort(
    incident_id: IncidentId,
    by: By,
    reason: Annotated[str, typer.Option("--reason", help="Why; goes into the timeline.")] = "",
) -> None:
    """Abort an open incident: a running step is cancelled, the incident ends as aborted."""
    _command(incident_id, "abort", Abort(by=by, reason=reason))


@app.command()
def timeline(incident_id: IncidentId, as_json: JsonFlag = False) -> None:
    """The incident's audited timeline, from its workflow history."""
    entries = with_client(lambda c: read_timeline(c, incident_id))
    if as_json:
        emit_json([e.model_dump(mode="json") for e in entries])
    else:
        typer.echo(render.timeline_text(entries))


@app.command()
def validate(
    runbooks: Annotated[list[str], typer.Argument(help="Runbook files, directories or names.")],
) -> None:
    """Check runbooks (short for `warroom runbooks validate`): errors name file:line:col and the fix."""
    raise typer.Exit(cli_runbooks.validate_paths(runbooks, as_json=False))


@app.command()
def dev(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the dev server keeps incidents.")
    ] = Path(".warroom"),
    port: Annotated[int, typer.Option("--port", help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[
        int | None, typer.Option("--ui-port", help="Temporal UI port (default: port+1000).")
    ] = None,
) -> None:
    """Run the embedded stack: Temporal dev server + worker, until Ctrl-C."""
    from warroom.devstack import DevServer, dev_stack
    from warroom.stopping import stop_signal

    server = DevServer(data_dir, port=port, ui_port=ui_port)

    async def go() -> None:
        stop = stop_signal()  # before "ready.", so a stop sent in reply is never lost
        typer.echo(f"starting Temporal dev server on {server.address} (data: {data_dir}) …")
        async with dev_stack(server):
            typer.echo(f"Temporal UI:  {server.ui_url}")
            typer.echo(f"worker:       polling task queue {task_queue()!r}")
            if server.address != "127.0.0.1:7233":
                typer.echo(f"other shells: export TEMPORAL_ADDRESS={server.address}")
            typer.echo("ready. Ctrl-C stops the server and the worker.")
            await stop
            typer.echo("stopping …")

    run(go)


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS (for a server you run yourself)."""
    from worker import GRACEFUL_SHUTDOWN, run_worker

    grace = GRACEFUL_SHUTDOWN.total_seconds()

    def stopping(signal: str) -> None:
        typer.echo(f"worker: {signal}: stopping; running activities get {grace:.0f}s to finish")

    typer.echo(f"worker: polling task queue {task_queue()!r}; Ctrl-C or SIGTERM stops it")
    run(lambda: run_worker(on_stop=stopping))
    typer.echo("worker: stopped")


@app.command()
def demo() -> None:
    """The main job end to end on a throwaway dev server (what `make demo` runs)."""
    from warroom.demo import run_demo

    raise typer.Exit(run(run_demo))


def main() -> None:
    """Entry point: always leave with the exit code the command meant.

    Short-lived Temporal client processes can abort during interpreter teardown
    (temporalio/sdk-python#300), so flush and `os._exit` instead of returning.
    An error nobody expected is still one line (with its type), unless WARROOM_DEBUG is set.
    """
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException as exc:
        if debugging():
            traceback.print_exc()
        with contextlib.suppress(Exception):
            sys.stderr.write(unexpected_line(exc) + "\n")
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
