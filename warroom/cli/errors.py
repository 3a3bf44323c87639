"""What the CLI says when a command fails: every expected error class as one `error: ...` line
(a runbook or scenario with several problems: one line per problem).

`OneLineErrors` is the CLI's command group; it runs every command inside the one handler
here, so no command needs its own try/except for an error class it did not raise on purpose.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import TemporalError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from typer.core import TyperGroup

from warroom.errors import RunbookError, WarroomError
from warroom.text import clip, escape

#: Set to get the Python traceback behind an error line (for bug reports).
DEBUG_ENV = "WARROOM_DEBUG"

_RPC_ADVICE: dict[RPCStatusCode, str] = {
    RPCStatusCode.INVALID_ARGUMENT: "the Temporal server refused the request ({}): "
    "check the arguments' sizes and formats",
    RPCStatusCode.NOT_FOUND: "not found on the Temporal server ({}): `warroom list` shows the incidents",
    RPCStatusCode.ALREADY_EXISTS: "already exists on the Temporal server ({}): try again",
    RPCStatusCode.FAILED_PRECONDITION: "the Temporal server refused the request in the "
    "incident's current state ({}): `warroom show ID` says what it is",
    RPCStatusCode.RESOURCE_EXHAUSTED: "the Temporal server hit a limit ({}): "
    "make the input smaller, or try again later",
    RPCStatusCode.PERMISSION_DENIED: "the Temporal server refused access ({}): check "
    "TEMPORAL_NAMESPACE, TEMPORAL_API_KEY and the TEMPORAL_TLS_* settings",
    RPCStatusCode.UNAUTHENTICATED: "the Temporal server refused access ({}): check "
    "TEMPORAL_API_KEY and the TEMPORAL_TLS_* settings",
    RPCStatusCode.UNAVAILABLE: "the Temporal server is unavailable ({}): check that it runs "
    "(`warroom dev`) and that TEMPORAL_ADDRESS points at it",
    RPCStatusCode.DEADLINE_EXCEEDED: "the Temporal server did not answer in time ({}): try again",
    RPCStatusCode.CANCELLED: "the call to the Temporal server was cancelled ({}): try again",
    RPCStatusCode.UNIMPLEMENTED: "the Temporal server does not support this ({}): upgrade it",
}


def _validation(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "value"
    more = len(exc.errors()) - 1
    return f"invalid {where} ({exc.title}): {first['msg']}" + (
        f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    )


def _oserror(exc: OSError) -> str:
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f": {clip(str(exc.filename), 120)}" if exc.filename is not None else ""
    return f"{what}{where} (check the path and its permissions)"


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or getattr(exc, "cause", None)
    return str(getattr(cause, "message", None) or cause or exc) or type(exc).__name__


# Most specific first: the first class the exception is an instance of decides.
_MESSAGES: list[tuple[type[BaseException], Callable[[Any], str]]] = [
    (WarroomError, str),
    (ValidationError, _validation),
    (
        WorkflowAlreadyStartedError,
        lambda e: f"incident {e.workflow_id} already exists: run the command again for a new id",
    ),
    (
        RPCError,
        lambda e: _RPC_ADVICE.get(
            e.status, f"the Temporal server answered {e.status.name} ({{}})"
        ).format(e.message or type(e).__name__),
    ),
    (
        RPCTimeoutOrCancelledError,
        lambda e: f"the Temporal server did not answer in time ({e}): try again",
    ),
    (WorkflowUpdateFailedError, lambda e: f"refused: {_cause(e)}"),
    (
        WorkflowQueryRejectedError,
        lambda e: (
            f"the incident's workflow is {e.status.name.lower() if e.status else 'closed'} "
            "and cannot answer: `warroom timeline ID` shows what happened"
        ),
    ),
    (
        WorkflowQueryFailedError,
        lambda e: (
            f"the incident's workflow could not answer ({e.message}): "
            "`warroom timeline ID` shows what happened"
        ),
    ),
    (
        WorkflowFailureError,
        lambda e: (
            f"the incident's workflow ended without a result ({_cause(e)}): "
            "`warroom timeline ID` shows what happened"
        ),
    ),
    (TemporalError, lambda e: f"Temporal: {e}"),
    (OSError, _oserror),
    (UnicodeError, lambda e: f"text that is not valid UTF-8 ({e}): pass arguments as UTF-8"),
]


def describe(exc: BaseException) -> str | None:
    """The one-line message for an expected error; None for anything else (a bug)."""
    for kind, message in _MESSAGES:
        if isinstance(exc, kind):
            return message(exc)
    return None


def error_line(message: str) -> str:
    """`error: ...` on one line, whatever the message holds (remote text, huge arguments)."""
    return f"error: {escape(clip(message, 500))}"


def debugging() -> bool:
    return bool(os.environ.get(DEBUG_ENV))


def refuse(message: str) -> NoReturn:
    """Print `error: message` and end the command with exit code 1."""
    typer.echo(error_line(message), err=True)
    raise typer.Exit(1)


def unexpected_line(exc: BaseException) -> str:
    """The last resort for an error nobody expected: one line naming its type."""
    text = str(exc) or "no message"
    return error_line(
        f"unexpected {type(exc).__name__}: {text} (a bug in warroom: "
        f"run again with {DEBUG_ENV}=1 for the traceback and report it)"
    )


def _raw_argument_problem(arg: str) -> str | None:
    if "\x00" in arg:
        return "contains a NUL character"
    try:
        arg.encode()
    except UnicodeEncodeError:  # undecodable argv bytes arrive as lone surrogates
        return "is not valid UTF-8"
    return None


class OneLineErrors(TyperGroup):
    """The CLI's group: refuses unusable raw arguments, and turns expected errors into one line."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        for arg in args:
            problem = _raw_argument_problem(arg)
            if problem:
                refuse(f"argument {clip(arg, 60)!r} {problem}: pass arguments as UTF-8 text")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = describe(exc)
            if message is None:
                raise
            if debugging():
                traceback.print_exc()
            if isinstance(exc, RunbookError) and exc.problems:
                # Every problem of a file at once, one line each (as `runbooks validate`).
                for problem in exc.problems:
                    typer.echo(error_line(str(problem)), err=True)
                raise typer.Exit(1) from None
            refuse(message)
