"""The rehearsal worker's actions: every action kind registered under its real activity name,
going through the real action boundary (templates rendered, parameters validated, outputs
kept, errors typed and retried as in production), with only the outside world replaced by
the scenario's answers. Every call is logged, so expectations can say what ran."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.boundary import ACTION_RESULTS, action
from warroom.contract.models import ActionInput, ActionResult
from warroom.expressions.redaction import SECRET_ENV_PREFIX
from warroom.language.actions import ACTION_PARAMS
from warroom.language.runbook import Runbook
from warroom.language.template_refs import references_in
from warroom.rehearsal.answers import answer, failure
from warroom.rehearsal.scenario import Answer

#: The action call being answered (`inp.step`: a step id, update-N, compensate-STEP, ...).
_call: ContextVar[str] = ContextVar("warroom_rehearsal_call", default="")


@dataclass
class Call:
    """One attempt of an action call, and how it ended."""

    name: str
    kind: str
    attempt: int
    at: datetime
    outcome: str


@dataclass
class AnswerBook:
    """The scenario's answers per call name, consumed in order (the last one repeats)."""

    answers: dict[str, list[Answer]]
    calls: list[Call] = field(default_factory=list)
    _used: dict[str, int] = field(default_factory=dict)

    def next(self, name: str) -> Answer | None:
        given = self.answers.get(name) or []
        if not given:
            return None
        used = self._used.get(name, 0)
        self._used[name] = used + 1
        return given[min(used, len(given) - 1)]

    def ran(self, name: str) -> bool:
        return any(c.name == name for c in self.calls)


def fake_activities(book: AnswerBook) -> list[Callable[..., Any]]:
    """One activity per action kind, under the real names."""
    return [_fake(kind, book) for kind in ACTION_RESULTS]


def _fake(kind: str, book: AnswerBook) -> Callable[..., Any]:
    async def outside_world(params: BaseModel) -> ActionResult:
        name = _call.get()
        given = book.next(name)
        info = activity.info()
        error = (
            failure(given.error, given.retryable, given.message) if given and given.error else None
        )
        try:
            result = answer(kind, params, error, given.fields if given else {})
        except Exception as exc:
            book.calls.append(Call(name, kind, info.attempt, _virtual_now(info), f"failed: {exc}"))
            raise
        book.calls.append(Call(name, kind, info.attempt, _virtual_now(info), "succeeded"))
        return result  # type: ignore[no-any-return]

    # The boundary checks each kind's parameter model and records its result model by name:
    # the same ones.
    outside_world.__annotations__ = {"params": ACTION_PARAMS[kind], "return": ACTION_RESULTS[kind]}
    boundary = action(kind, ACTION_PARAMS[kind])(outside_world)

    @activity.defn(name=kind)
    async def rehearsed(inp: ActionInput) -> ActionResult:
        token = _call.set(inp.step)
        try:
            return await boundary(inp)
        finally:
            _call.reset(token)

    return rehearsed


def _virtual_now(info: activity.Info) -> datetime:
    return info.current_attempt_scheduled_time


def secret_names(runbook: Runbook) -> set[str]:
    """Every secret the runbook's templates read."""
    refs = references_in(runbook.model_dump(mode="json", by_alias=True))
    return {str(ref[1]) for ref in refs if len(ref) > 1 and ref[0] == "secret"}


@contextlib.contextmanager
def stand_in_secrets(runbook: Runbook, given: dict[str, str]) -> Iterator[None]:
    """Give every secret the runbook reads a stand-in value (a placeholder URL unless the
    scenario gives one), so a rehearsal never sees a real secret; restored afterwards."""
    names = secret_names(runbook) | set(given)
    saved = {n: os.environ.get(SECRET_ENV_PREFIX + n) for n in names}
    for n in names:
        os.environ[SECRET_ENV_PREFIX + n] = given.get(n, f"https://{n.lower()}.rehearsal.invalid")
    try:
        yield
    finally:
        for n, value in saved.items():
            if value is None:
                os.environ.pop(SECRET_ENV_PREFIX + n, None)
            else:
                os.environ[SECRET_ENV_PREFIX + n] = value
