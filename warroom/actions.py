"""The activity boundary every action kind shares: render templates, validate parameters,
convert errors to typed ApplicationErrors, scrub secrets from what goes back into history."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from warroom.dataflow import RESULT_LIMIT, cut_result, size_of
from warroom.errors import ActionParamsError, PayloadTooLarge, WarroomError
from warroom.models import ActionInput, ActionResult, StoredResult
from warroom.templating import Secrets, render_value

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=ActionResult)

ActionFn = Callable[[ActionInput], Awaitable[ActionResult]]

#: Parameter model of every action kind, by activity name (filled as action modules import).
ACTION_PARAMS: dict[str, type[BaseModel]] = {}


#: The secrets the running action rendered, so `clip` can scrub before it cuts.
_secrets: ContextVar[Secrets | None] = ContextVar("warroom_action_secrets", default=None)


def clip(text: str, limit: int) -> str:
    """Scrub secret values from remote text, then cut it to `limit` characters.

    In that order: cutting first could leave half a secret that scrubbing no longer recognises.
    """
    secrets = _secrets.get()
    text = secrets.scrub(text) if secrets else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scrubbed(model: R, secrets: Secrets) -> R:
    if not secrets.used:
        return model
    text = secrets.scrub(model.model_dump_json(by_alias=True))
    return type(model).model_validate(json.loads(text))


def action(name: str, params_model: type[P]) -> Callable[[Callable[[P], Awaitable[R]]], ActionFn]:
    """Make `fn(params) -> result` the activity `name` taking one ActionInput."""

    def decorate(fn: Callable[[P], Awaitable[R]]) -> ActionFn:
        async def run(inp: ActionInput) -> ActionResult:
            attempt = activity.info().attempt
            secrets = Secrets()
            token = _secrets.set(secrets)
            try:
                rendered: Any = render_value(inp.params, {**inp.context, "secret": secrets})
                try:
                    params = params_model.model_validate(rendered)
                except ValidationError as exc:
                    raise ActionParamsError(_describe(name, exc)) from exc
                result = await fn(params)
                done = _scrubbed(result.model_copy(update={"attempt": attempt}), secrets)
                stored = _stored(inp, done)
            except WarroomError as exc:
                raise ApplicationError(
                    secrets.scrub(str(exc)),
                    {"attempt": attempt},
                    type=exc.type_name,
                    non_retryable=not exc.retryable,
                    next_retry_delay=exc.retry_after,
                ) from None
            finally:
                _secrets.reset(token)
            return stored

        run.__name__ = run.__qualname__ = fn.__name__
        run.__doc__ = fn.__doc__
        ACTION_PARAMS[name] = params_model
        return activity.defn(name=name)(run)

    return decorate


def _stored(inp: ActionInput, result: ActionResult) -> StoredResult:
    """What the step keeps in history: its `outputs`, else the result cut to RESULT_LIMIT."""
    data = result.model_dump(mode="json", by_alias=True)
    if not inp.outputs:
        return StoredResult(attempt=result.attempt, result=cut_result(data))
    outputs = render_value(dict(inp.outputs), {**inp.context, "result": data})
    if (size := size_of(outputs)) > RESULT_LIMIT:
        raise PayloadTooLarge(
            f"the outputs of step {inp.step!r} are {size // 1024} KiB, over the "
            f"{RESULT_LIMIT // 1024} KiB limit for a stored result: select less in `outputs`"
        )
    return StoredResult(attempt=result.attempt, outputs=outputs)


def _describe(name: str, exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'with'}: {err['msg']}" for err in exc.errors()
    )
    return f"{name} parameters are invalid: {problems}"
