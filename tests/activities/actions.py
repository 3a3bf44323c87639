"""Running action activities in tests: directly in an ActivityEnvironment, or under a real worker
on the time-skipping server (so retries really happen); plus the HTTP failure modes every
HTTP-based action kind must classify the same way."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.boundary import ACTION_RESULTS
from tests.activities.runaction import RunAction
from tests.fakehttp import FakeHttp, Recorded, Reply
from warroom.contract.models import ActionInput
from warroom.entry.devstack import free_port


def action_input(params: dict[str, Any], context: dict[str, Any] | None = None) -> ActionInput:
    return ActionInput(incident_id="inc-test", step="s", params=params, context=context or {})


def activity_env(**info: Any) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, **info)
    return env


async def run(fn: Any, params: dict[str, Any], **info: Any) -> Any:
    return await run_action(fn, action_input(params), activity_env(**info))


async def run_action(fn: Any, inp: ActionInput, env: ActivityEnvironment | None = None) -> Any:
    """The action's typed result, rebuilt from what the step keeps in history (a step without
    `outputs` keeps the whole result)."""
    stored = await (env or ActivityEnvironment()).run(fn, inp)
    assert stored.outputs is None and stored.result is not None
    model = ACTION_RESULTS[fn.__temporal_activity_definition.name]
    return model.model_validate({**stored.result, "attempt": stored.attempt})


async def failure(fn: Any, params: dict[str, Any], **info: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run(fn, params, **info)
    return caught.value


async def run_on_worker(
    env: WorkflowEnvironment, fn: Any, params: dict[str, Any], attempts: int = 3
) -> dict[str, Any]:
    """Run the action under a real worker with up to `attempts` attempts (1 s apart, skipped)."""
    queue = f"tq-{uuid.uuid4().hex[:12]}"
    name = fn.__temporal_activity_definition.name
    async with Worker(env.client, task_queue=queue, workflows=[RunAction], activities=[fn]):
        result: dict[str, Any] = await env.client.execute_workflow(
            RunAction.run,
            args=[name, action_input(params).model_dump(), attempts],
            id=f"wf-{uuid.uuid4().hex[:12]}",
            task_queue=queue,
        )
    return result


async def worker_failure(
    env: WorkflowEnvironment, fn: Any, params: dict[str, Any], attempts: int = 3
) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as caught:
        await run_on_worker(env, fn, params, attempts)
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, ApplicationError)
    return activity_error.cause


def slow(reply: Reply, seconds: float = 1.5) -> Callable[[Recorded], Reply]:
    """A route that answers after `seconds` (ActivityEnvironment's start_to_close is 1 s)."""

    def answer(_: Recorded) -> Reply:
        time.sleep(seconds)
        return reply

    return answer


@dataclasses.dataclass
class HttpTarget:
    """How one HTTP-based action kind talks to its fake: which request, which answers."""

    fn: Any
    method: str
    path: str
    params: Callable[[str], dict[str, Any]]  # base URL -> step parameters
    ok: Reply
    refused: Reply  # what the service answers to a request it will never accept
    refused_type: str


FailureMode = Callable[[HttpTarget, FakeHttp, WorkflowEnvironment], Awaitable[None]]


async def retried_after_500(t: HttpTarget, fake: FakeHttp, env: WorkflowEnvironment) -> None:
    fake.routes[(t.method, t.path)] = [Reply(500, {"error": "boom"}), t.ok]
    result = await run_on_worker(env, t.fn, t.params(fake.url))
    assert result["attempt"] == 2
    assert len(fake.calls(t.method, t.path)) == 2


async def retry_after_429(t: HttpTarget, fake: FakeHttp, env: WorkflowEnvironment) -> None:
    fake.routes[(t.method, t.path)] = Reply(429, {"error": "slow down"}, {"Retry-After": "7"})
    err = await failure(t.fn, t.params(fake.url))
    assert not err.non_retryable
    assert err.next_retry_delay == timedelta(seconds=7)


async def refused_not_retried(t: HttpTarget, fake: FakeHttp, env: WorkflowEnvironment) -> None:
    fake.routes[(t.method, t.path)] = t.refused
    err = await worker_failure(env, t.fn, t.params(fake.url))
    assert err.type == t.refused_type
    assert err.non_retryable
    assert len(fake.calls(t.method, t.path)) == 1


async def timeout_is_retryable(t: HttpTarget, fake: FakeHttp, env: WorkflowEnvironment) -> None:
    fake.routes[(t.method, t.path)] = slow(t.ok)
    err = await failure(t.fn, t.params(fake.url))
    assert err.type == "warroom.HttpTransportError"
    assert "Timeout" in err.message
    assert not err.non_retryable


async def refused_connection_is_retryable(
    t: HttpTarget, fake: FakeHttp, env: WorkflowEnvironment
) -> None:
    err = await failure(t.fn, t.params(f"http://127.0.0.1:{free_port()}"))
    assert err.type == "warroom.HttpTransportError"
    assert "ConnectError" in err.message
    assert not err.non_retryable


FAILURE_MODES: list[FailureMode] = [
    retried_after_500,
    retry_after_429,
    refused_not_retried,
    timeout_is_retryable,
    refused_connection_is_retryable,
]
