"""The one error hierarchy of warroom: typed errors carrying context, messages that say what to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


class WarroomError(Exception):
    """Base of every error warroom raises on purpose."""

    #: Stable type name used for ApplicationError.type at the activity boundary.
    type_name = "warroom.Error"
    #: Whether retrying the same call could succeed.
    retryable = False
    #: How long the far side asked us to wait before retrying, when it said so.
    retry_after: timedelta | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class RunbookProblem:
    """One thing wrong with a runbook, where it is (1-based line and column) and the fix."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class RunbookError(WarroomError):
    """A runbook could not be found, parsed or validated.

    Carries every problem found in the file (`problems`), each with its line and column;
    `path` and `line` are those of the first one. Its text is one line per problem.
    """

    type_name = "warroom.RunbookError"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        runbook: str | None = None,
        problems: list[RunbookProblem] | None = None,
    ) -> None:
        self.problems = list(problems or [])
        if self.problems:
            first = self.problems[0]
            path, line = first.path, first.line
            message = "\n".join(str(p) for p in self.problems)
        self.path, self.line, self.runbook = path, line, runbook
        if self.problems:
            super().__init__(message)
            return
        where = path or runbook or "runbook"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")

    @classmethod
    def of(cls, problems: list[RunbookProblem]) -> RunbookError:
        """The error for a non-empty list of located problems, sorted by position."""
        ordered = sorted(problems, key=lambda p: (p.path, p.line, p.col))
        return cls("", problems=ordered)


class TemplateError(WarroomError):
    """A step parameter template failed to render (syntax, unknown variable, sandbox)."""

    type_name = "warroom.TemplateError"

    def __init__(self, message: str, *, step: str | None = None) -> None:
        self.step = step
        super().__init__(f"step {step!r}: {message}" if step else message)


class SecretMissing(WarroomError):
    """A template referenced a secret that the worker does not have."""

    type_name = "warroom.SecretMissing"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"secret {name!r} is not set: export WARROOM_SECRET_{name} on the worker"
            " (secrets are resolved on the worker and never enter workflow history)"
        )


class ActionParamsError(WarroomError):
    """Rendered step parameters do not fit the action's parameter model."""

    type_name = "warroom.ActionParamsError"


class UnsendableValue(ActionParamsError):
    """A value holds characters the protocol it goes to cannot carry: a line break or non-ASCII
    character in an HTTP header, a lone surrogate (not text at all), non-ASCII credentials for
    an SMTP server without AUTH PLAIN. Retrying would send the same value: not retried."""

    type_name = "warroom.UnsendableValue"
    retryable = False


class HttpStatusError(WarroomError):
    """An HTTP call answered with a status the step did not expect."""

    type_name = "warroom.HttpStatusError"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retryable: bool,
        retry_after: timedelta | None = None,
    ) -> None:
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class ResponseTooLarge(WarroomError):
    """A response body was larger than the action reads: retrying gets the same answer."""

    type_name = "warroom.ResponseTooLarge"

    def __init__(self, message: str, *, limit: int) -> None:
        self.limit = limit
        super().__init__(message)


class HttpTransportError(WarroomError):
    """An HTTP call could not complete (connection refused, timeout, reset)."""

    type_name = "warroom.HttpTransportError"
    retryable = True


class RedirectRefused(WarroomError):
    """A redirect to another origin would have carried a secret in the request body (a 307 or
    308 re-sends it): not followed, and retrying would be redirected the same way."""

    type_name = "warroom.RedirectRefused"


class PayloadTooLarge(WarroomError):
    """A value the workflow would send or store exceeds the size warroom allows for it."""

    type_name = "warroom.PayloadTooLarge"


class ServerUnreachable(WarroomError):
    """The Temporal server did not answer."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the Temporal server at {address} ({reason}); "
            "start one with `warroom dev` or set TEMPORAL_ADDRESS"
        )


class IncidentNotFound(WarroomError):
    """No incident has the given id."""

    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        super().__init__(f"no incident {incident_id!r}: `warroom list` shows the open ones")


class DecisionRefused(WarroomError):
    """A human decision (approve, reject) cannot apply to the incident as it is now."""


class ParamsError(WarroomError):
    """Values given for a runbook's params (`declare --param k=v`) do not fit its declaration."""

    type_name = "warroom.ParamsError"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class WaitTimedOut(WarroomError):
    """A wait (http.wait, prometheus.wait) saw its condition fail to hold before its timeout.

    Not retryable: a retry would resume the same wait with the same deadline.
    """

    type_name = "warroom.WaitTimedOut"


class PrometheusError(WarroomError):
    """Prometheus refused a query (`status: error`, e.g. bad PromQL): retrying cannot fix it."""

    type_name = "warroom.PrometheusError"

    def __init__(self, message: str, *, error_type: str) -> None:
        self.error_type = error_type
        super().__init__(message)


class ExecRefused(WarroomError):
    """A program is not on the worker's allow-list (WARROOM_EXEC_ALLOW) or cannot be found."""

    type_name = "warroom.ExecRefused"


class ExecFailed(WarroomError):
    """A program exited with a code the step does not allow.

    Retryable: the program itself reported failure, so it most likely changed nothing.
    """

    type_name = "warroom.ExecFailed"
    retryable = True

    def __init__(self, message: str, *, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class ExecTimedOut(WarroomError):
    """A program ran past its timeout and was killed with its process group.

    Not retryable: nobody knows how far it got, so a person decides (retry, skip, abort).
    """

    type_name = "warroom.ExecTimedOut"


class RemoteRejected(WarroomError):
    """A notification service (Slack, PagerDuty, Statuspage, SMTP) answered with an error of its own.

    `code` is the service's error code (Slack's `error`, an SMTP reply code, ...); retryable
    only when the service said to come back later (rate limits, temporary failures).
    """

    type_name = "warroom.RemoteRejected"

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool = False,
        retry_after: timedelta | None = None,
    ) -> None:
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class SlackError(RemoteRejected):
    """Slack answered `ok: false` (or an incoming webhook refused the message)."""

    type_name = "warroom.SlackError"


class PagerDutyError(RemoteRejected):
    """PagerDuty's Events API refused an event (400 `invalid event`)."""

    type_name = "warroom.PagerDutyError"


class StatuspageError(RemoteRejected):
    """The Statuspage API refused a request (bad page/incident id, key, or fields)."""

    type_name = "warroom.StatuspageError"


class SmtpError(RemoteRejected):
    """The SMTP server refused the message, the login or STARTTLS; 4xx replies are temporary."""

    type_name = "warroom.SmtpError"
