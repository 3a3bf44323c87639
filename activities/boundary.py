"""The activity boundary every action kind shares: render templates (bounded, off the event
loop), validate parameters, convert errors to typed ApplicationErrors, cap Retry-After, and scrub
secrets (in every encoding) from everything that leaves: results, error messages and details,
and the HTTP client's log lines."""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from warroom.contract.models import ActionInput, ActionResult, StoredResult
from warroom.errors import ActionParamsError, PayloadTooLarge, UnsendableValue, WarroomError
from warroom.expressions.dataflow import RESULT_LIMIT, cut_result, size_of
from warroom.expressions.redaction import SecretLookup, Secrets
from warroom.expressions.templating import RenderLimits, render_in_thread
from warroom.language.actions import ACTION_PARAMS

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=ActionResult)

ActionFn = Callable[[ActionInput], Awaitable[ActionResult]]

#: Result model of every action kind, by activity name: what `result` holds in `outputs`
#: (filled as the action modules import).
ACTION_RESULTS: dict[str, type[ActionResult]] = {}


#: The secrets the running action rendered, so `clip` can scrub before it cuts.
_secrets: ContextVar[Secrets | None] = ContextVar("warroom_action_secrets", default=None)

#: Longest a template may render: the step's own timeout, but never more than this.
MAX_RENDER_TIME = timedelta(seconds=10)
#: Longest a Retry-After may postpone the next attempt when the retry policy sets no maximum.
DEFAULT_MAX_RETRY_DELAY = timedelta(minutes=5)


class _ScrubLogRecords(logging.Filter):
    """httpx logs every request URL at INFO; a URL may carry a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets.get()
        if secrets is not None and secrets.values:
            record.msg, record.args = secrets.scrub(record.getMessage()), None
        return True


logging.getLogger("httpx").addFilter(_ScrubLogRecords())


#: The running step's idempotency key (the same for every attempt of the step in the incident).
_idempotency_key: ContextVar[str] = ContextVar("warroom_idempotency_key", default="")


def idempotency_key() -> str:
    """The running step's idempotency key, for actions whose far side honours one ("" if none)."""
    return _idempotency_key.get()


def carries_secret(text: str) -> bool:
    """Whether `text` holds a secret the running action rendered (or a value derived from one),
    in any form the scrubber recognises."""
    secrets = _secrets.get()
    return secrets is not None and secrets.found_in(text)


def clip(text: str, limit: int) -> str:
    """Scrub secret values from remote text, then cut it to `limit` characters.

    In that order: cutting first could leave half a secret that scrubbing no longer recognises.
    """
    secrets = _secrets.get()
    if secrets is not None:
        text = secrets.scrub_prefix(text, limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_delay(asked: timedelta | None) -> timedelta | None:
    """The far side's Retry-After, never beyond the step's own longest retry interval."""
    if asked is None:
        return None
    policy = activity.info().retry_policy
    cap = (policy.maximum_interval if policy else None) or DEFAULT_MAX_RETRY_DELAY
    return min(asked, cap)


#: Results smaller than this are scrubbed and cut on the event loop: a thread hop costs more.
_SMALL_RESULT = 16 * 1024


def _render_limits() -> RenderLimits:
    timeout = activity.info().start_to_close_timeout or MAX_RENDER_TIME
    return RenderLimits(seconds=min(timeout, MAX_RENDER_TIME).total_seconds())


def _failure(exc: Exception, secrets: Secrets, attempt: int) -> ApplicationError:
    """The ApplicationError the workflow sees for `exc`, with every secret form scrubbed."""
    if isinstance(exc, WarroomError):
        return ApplicationError(
            secrets.scrub(str(exc)),
            {"attempt": attempt},
            type=exc.type_name,
            non_retryable=not exc.retryable,
            next_retry_delay=_retry_delay(exc.retry_after),
        )
    # Not raised on purpose (a bug, an unexpected library error): retried as Temporal would,
    # but its text is scrubbed like any other.
    return ApplicationError(
        secrets.scrub(f"{type(exc).__name__}: {exc}"), {"attempt": attempt}, type=type(exc).__name__
    )


def action(name: str, params_model: type[P]) -> Callable[[Callable[[P], Awaitable[R]]], ActionFn]:
    """Make `fn(params) -> result` the activity `name` taking one ActionInput.

    `params_model` must be the runbook language's model for `name` (`ACTION_PARAMS`): the loader
    checks a runbook's `with:` against that one, so the activity must validate with it too."""
    known = ACTION_PARAMS.get(name)
    if known is not params_model:
        has = known.__name__ if known else "no such kind"
        raise TypeError(
            f"action {name!r} takes {params_model.__name__}, but the language's table "
            f"(warroom.language.actions.ACTION_PARAMS) has {has}: make the two agree"
        )

    def decorate(fn: Callable[[P], Awaitable[R]]) -> ActionFn:
        async def run(inp: ActionInput) -> ActionResult:
            attempt = activity.info().attempt
            secrets = Secrets()
            token = _secrets.set(secrets)
            key_token = _idempotency_key.set(inp.idempotency_key)
            try:
                result = await _render_and_call(name, params_model, fn, inp, secrets)
                return await _stored(inp, attempt, result, secrets)
            except CancelledError:
                raise
            except Exception as exc:  # nothing leaves unscrubbed
                failure = _failure(exc, secrets, attempt)
            finally:
                _secrets.reset(token)
                _idempotency_key.reset(key_token)
            # Raised outside the handler, so neither its cause nor its context carries the
            # unscrubbed original into the failure or the worker log.
            raise failure

        run.__name__ = run.__qualname__ = fn.__name__
        run.__doc__ = fn.__doc__
        ACTION_RESULTS[name] = typing.get_type_hints(fn)["return"]
        return activity.defn(name=name)(run)

    return decorate


async def _render_and_call(
    name: str,
    params_model: type[P],
    fn: Callable[[P], Awaitable[R]],
    inp: ActionInput,
    secrets: Secrets,
) -> R:
    rendered: Any = await render_in_thread(
        inp.params, {**inp.context, "secret": SecretLookup(secrets)}, _render_limits()
    )
    if (where := _not_text(rendered)) is not None:
        raise UnsendableValue(
            f"{name} parameter {where or 'with'} is not valid text: it holds a lone surrogate "
            "(half of a UTF-16 pair, from data decoded without checks), which no protocol can "
            "encode; fix the data it came from"
        )
    try:
        params = params_model.model_validate(rendered)
    except ValidationError as exc:
        raise ActionParamsError(_describe(name, exc)) from exc
    return await fn(params)


async def _stored(
    inp: ActionInput, attempt: int, result: ActionResult, secrets: Secrets
) -> StoredResult:
    """What the step keeps in history, every secret scrubbed: its `outputs` (rendered over the
    scrubbed result, with no secrets in reach), else the result cut to RESULT_LIMIT.

    Scrubbing and cutting a result of up to 1 MiB takes a while: then they run in a thread, so
    that other incidents' work does not wait for them."""
    data = {**result.model_dump(mode="json", by_alias=True), "attempt": attempt}
    if size_of(data) < _SMALL_RESULT:
        data = _scrub_and_cut(data, secrets, cut=not inp.outputs)
    else:
        data = await asyncio.to_thread(_scrub_and_cut, data, secrets, cut=not inp.outputs)
    if not inp.outputs:
        return StoredResult(attempt=attempt, result=data)
    outputs = await render_in_thread(
        dict(inp.outputs), {**inp.context, "result": data}, _render_limits()
    )
    if (size := size_of(outputs)) > RESULT_LIMIT:
        raise PayloadTooLarge(
            f"the outputs of step {inp.step!r} are {size // 1024} KiB, over the "
            f"{RESULT_LIMIT // 1024} KiB limit for a stored result: select less in `outputs`"
        )
    return StoredResult(attempt=attempt, outputs=outputs)


def _scrub_and_cut(data: dict[str, Any], secrets: Secrets, *, cut: bool) -> dict[str, Any]:
    # String by string, so escapes inside a value are matched and the structure stays intact.
    scrubbed: dict[str, Any] = secrets.scrub_data(data) if secrets.values else data
    return cut_result(scrubbed) if cut else scrubbed


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_text(value: Any, path: str = "") -> str | None:
    """The path of the first string in `value` (keys included) holding a lone surrogate."""
    if isinstance(value, str):
        return None if _is_text(value) else path
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and not _is_text(key):
            return f"{path} (a key)" if path else "(a key)"  # never quote it: it is no text
        if (found := _not_text(item, f"{path}.{key}" if path else str(key))) is not None:
            return found
    return None


def _describe(name: str, exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'with'}: {err['msg']}" for err in exc.errors()
    )
    return f"{name} parameters are invalid: {problems}"
