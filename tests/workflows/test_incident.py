"""IncidentWorkflow end to end against real Temporal servers and a loopback HTTP peer: step order
and outputs, retries and pauses, approval gates, human decisions, cadence updates, search
attributes, and secrets kept out of history."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict, ParseDict
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import ACTIVITIES
from tests.fakehttp import FakeHttp, Reply
from warroom.contract import search_attributes as sa
from warroom.contract.models import (
    Abort,
    Acknowledge,
    Assign,
    Decision,
    IncidentInput,
    IncidentState,
    StepCommand,
    StepState,
)
from warroom.incidents import views
from warroom.language.loader import parse_runbook
from warroom.language.runbook import Runbook
from workflows.incident import IncidentWorkflow

Handle = WorkflowHandle[IncidentWorkflow, IncidentState]

#: How many times `wait_for` polls (x 50 ms) before it gives up: a bound, not a timing assertion.
POLLS = 400
#: Bound on waiting for an incident's result (a hang guard, not a timing assertion).
RESULT_BOUND_SECONDS = 60


def runbook(text: str, fake: FakeHttp) -> Runbook:
    """Parse a test runbook; FAKE stands for the fake HTTP server's base URL."""
    return parse_runbook(textwrap.dedent(text).replace("FAKE", fake.url), "test-runbook.yaml")


@asynccontextmanager
async def worker(client: Client, task_queue: str) -> AsyncIterator[None]:
    async with Worker(
        client, task_queue=task_queue, workflows=[IncidentWorkflow], activities=ACTIVITIES
    ):
        yield


async def start(client: Client, task_queue: str, rb: Runbook, **kwargs: Any) -> Handle:
    return await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(runbook=rb, summary="test incident", declared_by="tester", **kwargs),
        id=f"inc-test-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
    )


async def wait_for(
    handle: Handle, predicate: Callable[[IncidentState], bool], what: str
) -> IncidentState:
    """Poll the `status` query until `predicate` holds (bounded)."""
    state = None
    for _ in range(POLLS):
        state = await handle.query(IncidentWorkflow.status)
        if predicate(state):
            return state
        await asyncio.sleep(0.05)
    pytest.fail(f"incident never reached {what}; last state: {state}")


async def finish(handle: Handle) -> IncidentState:
    """The incident's result; a bound so that a regression that never closes it fails the test
    instead of hanging the suite (time-skipping would otherwise skip cadence timers forever)."""
    try:
        return await asyncio.wait_for(handle.result(), RESULT_BOUND_SECONDS)
    except TimeoutError:
        state = await handle.query(IncidentWorkflow.status)
        pytest.fail(f"incident never closed; last state: {state}")


async def abort_and_finish(handle: Handle, by: str = "tester") -> IncidentState:
    """Close an incident a test is done with (an open one would hold up time skipping)."""
    await handle.signal(IncidentWorkflow.abort, Abort(by=by))
    return await finish(handle)


def step(state: IncidentState, step_id: str) -> StepState:
    return next(s for s in state.steps if s.id == step_id)


def paths(fake: FakeHttp) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests]


# ---- steps, outputs, retries, pauses --------------------------------------------------


async def test_steps_run_in_order_and_outputs_feed_later_steps(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/stats")] = Reply(200, {"version": "v42", "previous": "v41"})
    fake_http.routes[("POST", "/rollback")] = Reply(200, {"rolled_back_to": "v41"})
    fake_http.routes[("GET", "/health")] = Reply(200, {"ok": True})
    fake_http.routes[("POST", "/chat")] = Reply(200, {})
    rb = runbook(
        """\
        name: order
        title: Checkout errors
        service: checkout
        steps:
          - {id: measure, phase: triage, action: http.request, with: {url: "FAKE/stats"}}
          - id: rollback
            phase: mitigate
            action: http.request
            with:
              method: POST
              url: FAKE/rollback
              json:
                from: "{{ steps.measure.result.json.version }}"
                to: "{{ steps['measure'].result.json.previous }}"
                incident: "{{ incident.incident_id }}"
          - {id: verify, phase: verify, action: http.request, with: {url: "FAKE/health"}}
          - id: all-clear
            phase: communicate
            action: webhook.post
            with: {url: "FAKE/chat", text: "back on {{ steps.rollback.result.json.rolled_back_to }}"}
        """,
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        result = await finish(handle)

    assert paths(fake_http) == ["GET /stats", "POST /rollback", "GET /health", "POST /chat"]
    assert fake_http.calls("POST", "/rollback")[0].body == {
        "from": "v42",
        "to": "v41",
        "incident": handle.id,
    }
    assert fake_http.calls("POST", "/chat")[0].body == {"text": "back on v41"}
    assert result.status == "resolved"
    assert result.outcome == "all steps done"
    assert result.phase == "verify"  # communicate steps do not move the phase
    assert result.closed_at is not None
    assert [(s.id, s.status, s.attempts) for s in result.steps] == [
        ("measure", "succeeded", 1),
        ("rollback", "succeeded", 1),
        ("verify", "succeeded", 1),
        ("all-clear", "succeeded", 1),
    ]
    starts = [s.started_at for s in result.steps]
    assert all(a is not None and b is not None and a <= b for a, b in itertools.pairwise(starts))


async def test_step_failing_twice_with_503_is_retried_per_its_policy(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/restart")] = [
        Reply(503, {"error": "busy"}),
        Reply(503, {"error": "busy"}),
        Reply(200, {"restarted": True}),
    ]
    rb = runbook(
        """\
        name: flaky
        title: Flaky restart
        steps:
          - id: restart
            phase: mitigate
            action: http.request
            with: {method: POST, url: FAKE/restart}
            retry: {max_attempts: 3, initial_interval: 1s, backoff: 2.0}
        """,
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        result = await finish(handle)

    assert len(fake_http.calls("POST", "/restart")) == 3
    restart = step(result, "restart")
    assert restart.status == "succeeded"
    assert restart.attempts == 3
    assert restart.error is None
    assert result.status == "resolved"


async def test_step_that_exhausts_its_retries_pauses_the_incident(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/restart")] = Reply(503, {"error": "busy"})
    rb = runbook(
        """\
        name: exhausted
        title: Restart keeps failing
        steps:
          - id: restart
            phase: mitigate
            action: http.request
            with: {method: POST, url: FAKE/restart}
            retry: {max_attempts: 3, initial_interval: 1s}
        """,
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        await time_env.sleep(timedelta(minutes=1))  # skip the retry backoff
        state = await wait_for(handle, lambda s: s.status == "paused", "paused")
        restart = step(state, "restart")
        assert restart.status == "failed"
        assert restart.attempts == 3
        assert restart.error is not None
        assert restart.error.startswith("warroom.HttpStatusError: ")
        assert "answered 503" in restart.error
        assert len(fake_http.calls("POST", "/restart")) == 3
        await handle.signal(IncidentWorkflow.abort, Abort(by="carol"))
        result = await finish(handle)
    assert result.status == "aborted"
    assert result.outcome == "aborted by carol"


CLIENT_ERROR_RUNBOOK = """\
    name: bad-request
    title: Feature flag off
    steps:
      - {id: look, phase: triage, action: http.request, with: {url: FAKE/look}}
      - id: flag
        phase: mitigate
        action: http.request
        with: {method: POST, url: FAKE/flag, json: {enabled: false}}
        retry: {max_attempts: 5, initial_interval: 1s}
      - {id: verify, phase: verify, action: http.request, with: {url: FAKE/verify}}
    """


async def _paused_on_client_error(
    client: Client, task_queue: str, fake_http: FakeHttp
) -> tuple[Handle, IncidentState]:
    fake_http.routes[("GET", "/look")] = Reply(200, {})
    fake_http.routes[("POST", "/flag")] = Reply(400, {"error": "flag name unknown"})
    fake_http.routes[("GET", "/verify")] = Reply(200, {})
    handle = await start(client, task_queue, runbook(CLIENT_ERROR_RUNBOOK, fake_http))
    state = await wait_for(handle, lambda s: s.status == "paused", "paused")
    flag = step(state, "flag")
    assert flag.status == "failed"
    assert flag.attempts == 1  # a 4xx is not retried, whatever the policy allows
    assert flag.error is not None and "answered 400" in flag.error
    assert "flag name unknown" in flag.error
    assert len(fake_http.calls("POST", "/flag")) == 1
    assert state.closed_at is None
    assert fake_http.calls("GET", "/verify") == []  # later steps wait
    return handle, state


async def test_client_error_is_not_retried_pauses_and_retry_step_succeeds(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    async with worker(time_env.client, task_queue):
        handle, _ = await _paused_on_client_error(time_env.client, task_queue, fake_http)
        # A retry for a step that did not fail is ignored.
        await handle.signal(IncidentWorkflow.retry_step, StepCommand(step="look", by="dana"))
        fake_http.routes[("POST", "/flag")] = Reply(200, {"enabled": False})
        await handle.signal(IncidentWorkflow.retry_step, StepCommand(step="flag", by="alice"))
        result = await finish(handle)

    assert result.status == "resolved"
    flag = step(result, "flag")
    assert flag.status == "succeeded"
    assert flag.attempts == 2
    assert flag.decided_by == "alice"
    assert flag.error is None
    assert step(result, "look").attempts == 1
    assert paths(fake_http) == ["GET /look", "POST /flag", "POST /flag", "GET /verify"]


async def test_skip_step_skips_the_failed_step_and_the_incident_resolves(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    async with worker(time_env.client, task_queue):
        handle, _ = await _paused_on_client_error(time_env.client, task_queue, fake_http)
        await handle.signal(IncidentWorkflow.skip_step, StepCommand(step="flag", by="bob"))
        result = await finish(handle)

    assert result.status == "resolved"
    assert step(result, "flag").status == "skipped"
    assert step(result, "flag").decided_by == "bob"
    assert step(result, "verify").status == "succeeded"
    assert paths(fake_http) == ["GET /look", "POST /flag", "GET /verify"]


async def test_abort_interrupts_a_running_step(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/drain")] = Reply(503, {"error": "busy"})
    rb = runbook(
        """
        name: t
        title: T
        steps:
          - id: drain
            phase: mitigate
            action: http.request
            with: {method: POST, url: "FAKE/drain"}
            retry: {max_attempts: 50, initial_interval: 1h, max_interval: 1h}
          - {id: verify, phase: verify, action: http.request, with: {url: "FAKE/verify"}}
        """,
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        # Waiting an hour between attempts: the step is running (retrying) when the abort comes.
        await wait_for(handle, lambda s: len(fake_http.calls("POST", "/drain")) == 1, "1st try")
        state = await handle.query(IncidentWorkflow.status)
        assert step(state, "drain").status == "running"
        await handle.signal(IncidentWorkflow.abort, Abort(by="erin", reason="doing it by hand"))
        result = await finish(handle)

    assert result.status == "aborted"
    assert result.outcome == "aborted by erin: doing it by hand"
    assert step(result, "drain").status == "cancelled"
    assert step(result, "verify").status == "pending"
    assert paths(fake_http) == ["POST /drain"]


async def test_abort_closes_a_paused_incident_as_aborted(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    async with worker(time_env.client, task_queue):
        handle, _ = await _paused_on_client_error(time_env.client, task_queue, fake_http)
        await handle.signal(IncidentWorkflow.abort, Abort(by="carol", reason="fixing by hand"))
        result = await finish(handle)

    assert result.status == "aborted"
    assert result.outcome == "aborted by carol: fixing by hand"
    assert result.closed_at is not None
    assert step(result, "flag").status == "failed"
    assert step(result, "verify").status == "pending"
    assert fake_http.calls("GET", "/verify") == []


# ---- approval gates -------------------------------------------------------------------

GATED_RUNBOOK = """\
    name: gated
    title: Checkout rollback
    steps:
      - {id: measure, phase: triage, action: http.request, with: {url: FAKE/stats}}
      - id: rollback
        phase: mitigate
        approval: {approvers: [alice, bob]APPROVAL_EXTRA}
        action: http.request
        with: {method: POST, url: FAKE/rollback}
      - {id: verify, phase: verify, action: http.request, with: {url: FAKE/health}}
    """


def gated_runbook(fake: FakeHttp, approval_extra: str = "") -> Runbook:
    fake.routes[("GET", "/stats")] = Reply(200, {"rate": 0.3})
    fake.routes[("POST", "/rollback")] = Reply(200, {})
    fake.routes[("GET", "/health")] = Reply(200, {})
    return runbook(GATED_RUNBOOK.replace("APPROVAL_EXTRA", approval_extra), fake)


async def awaiting_rollback(handle: Handle, fake: FakeHttp) -> IncidentState:
    state = await wait_for(handle, lambda s: s.status == "awaiting_approval", "awaiting_approval")
    rollback = step(state, "rollback")
    assert rollback.status == "awaiting_approval"
    assert rollback.approvers == ["alice", "bob"]
    assert [s.id for s in state.pending_approvals] == ["rollback"]
    assert step(state, "measure").status == "succeeded"
    assert state.phase == "mitigate"
    assert fake.calls("POST", "/rollback") == []
    return state


async def test_approval_gate_blocks_until_a_listed_approver_approves(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    rb = gated_runbook(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        await awaiting_rollback(handle, fake_http)
        # Not an approver: ignored (a later valid approval still decides the step).
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="mallory"))
        state = await handle.query(IncidentWorkflow.status)
        assert state.status == "awaiting_approval"
        assert step(state, "rollback").decided_by is None
        assert fake_http.calls("POST", "/rollback") == []
        await handle.signal(
            IncidentWorkflow.approve, Decision(step="rollback", by="bob", comment="go")
        )
        result = await finish(handle)

    assert result.status == "resolved"
    rollback = step(result, "rollback")
    assert rollback.status == "succeeded"
    assert rollback.decided_by == "bob"
    assert rollback.comment == "go"
    assert paths(fake_http) == ["GET /stats", "POST /rollback", "GET /health"]


async def test_reject_aborts_the_incident_and_the_gated_step_never_runs(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    rb = gated_runbook(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        await awaiting_rollback(handle, fake_http)
        await handle.signal(IncidentWorkflow.reject, Decision(step="rollback", by="mallory"))
        await handle.signal(
            IncidentWorkflow.reject, Decision(step="rollback", by="alice", comment="too risky")
        )
        result = await finish(handle)

    assert result.status == "aborted"
    assert result.outcome == "rollback rejected by alice: too risky"
    rollback = step(result, "rollback")
    assert rollback.status == "rejected"
    assert rollback.decided_by == "alice"
    assert step(result, "verify").status == "pending"
    assert paths(fake_http) == ["GET /stats"]


async def test_abort_while_awaiting_approval_closes_the_incident(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    rb = gated_runbook(fake_http)
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        await awaiting_rollback(handle, fake_http)
        await handle.signal(IncidentWorkflow.abort, Abort(by="carol", reason="false alarm"))
        result = await finish(handle)

    assert result.status == "aborted"
    assert result.outcome == "aborted by carol: false alarm"
    assert step(result, "rollback").status == "pending"
    assert result.pending_approvals == []
    assert paths(fake_http) == ["GET /stats"]


async def test_approval_timeout_closes_the_incident_as_aborted(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    rb = gated_runbook(fake_http, ", timeout: 10m")
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        result = await finish(handle)  # time skips to the approval timeout

    assert result.status == "aborted"
    assert result.outcome == "approval of rollback timed out after 10m"
    rollback = step(result, "rollback")
    assert rollback.status == "rejected"
    assert rollback.decided_by == "timeout"
    assert result.closed_at is not None
    assert result.closed_at - result.started_at >= timedelta(minutes=10)
    assert paths(fake_http) == ["GET /stats"]


# ---- updates: refused at once by the validator ----------------------------------------


async def refused(handle: Handle, update: Any, decision: Decision) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await asyncio.wait_for(handle.execute_update(update, decision), 30)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "warroom.DecisionRefused"
    return cause.message


async def test_approve_and_reject_updates_validate_decisions(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/stats")] = Reply(200, {})
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    rb = runbook(
        """\
        name: updates
        title: Decisions by update
        steps:
          - {id: measure, phase: triage, action: http.request, with: {url: FAKE/stats}}
          - id: rollback
            phase: mitigate
            approval: {approvers: [alice, bob]}
            action: http.request
            with: {method: POST, url: FAKE/rollback}
          - id: failover
            phase: recover
            approval: {approvers: [alice]}
            action: http.request
            with: {method: POST, url: FAKE/failover}
        """,
        fake_http,
    )
    approve, reject = IncidentWorkflow.approve_step, IncidentWorkflow.reject_step
    async with worker(dev_env.client, task_queue):
        handle = await start(dev_env.client, task_queue, rb)
        await awaiting_rollback(handle, fake_http)

        assert await refused(handle, approve, Decision(step="nope", by="alice")) == (
            "no step 'nope' in this incident (steps: measure, rollback, failover)"
        )
        assert await refused(handle, approve, Decision(step="measure", by="alice")) == (
            "step 'measure' needs no approval"
        )
        assert await refused(handle, approve, Decision(step="rollback", by="mallory")) == (
            "mallory is not an approver of step 'rollback' (approvers: alice, bob)"
        )
        assert await refused(handle, reject, Decision(step="rollback", by="mallory")) == (
            "mallory is not an approver of step 'rollback' (approvers: alice, bob)"
        )
        assert await refused(handle, approve, Decision(step="failover", by="alice")) == (
            "step 'failover' is not waiting for approval (it is pending)"
        )
        # Refused decisions changed nothing.
        state = await handle.query(IncidentWorkflow.status)
        assert step(state, "rollback").status == "awaiting_approval"
        assert fake_http.calls("POST", "/rollback") == []

        decided = await asyncio.wait_for(
            handle.execute_update(approve, Decision(step="rollback", by="bob", comment="ok")), 30
        )
        assert isinstance(decided, StepState)
        assert decided.id == "rollback"
        assert decided.decided_by == "bob"
        assert decided.comment == "ok"
        assert decided.status != "awaiting_approval"

        state = await wait_for(
            handle, lambda s: step(s, "failover").status == "awaiting_approval", "failover gate"
        )
        assert step(state, "rollback").status == "succeeded"
        assert await refused(handle, approve, Decision(step="rollback", by="alice")) == (
            "step 'rollback' was already approved by bob"
        )
        rejected = await asyncio.wait_for(
            handle.execute_update(reject, Decision(step="failover", by="alice")), 30
        )
        assert rejected.status == "rejected"
        assert rejected.decided_by == "alice"
        result = await finish(handle)

    assert result.status == "aborted"
    assert result.outcome == "failover rejected by alice"
    assert len(fake_http.calls("POST", "/rollback")) == 1
    assert fake_http.calls("POST", "/failover") == []


# ---- status updates on the severity's cadence -----------------------------------------


#: A SEV2 incident waiting for an approval, posting an update every 15 minutes.
CADENCE_RUNBOOK = """\
        name: cadence
        title: {title}
        severity: SEV2
        cadence: {{SEV2: 15m}}
        updates:
          - {{action: webhook.post, with: {{url: FAKE/updates}}}}
        steps:
          - {{id: measure, phase: triage, action: http.request, with: {{url: FAKE/stats}}}}
          - id: rollback
            phase: mitigate
            approval: {{approvers: [alice]}}
            action: http.request
            with: {{method: POST, url: FAKE/rollback}}
"""


async def test_cadence_posts_one_update_per_interval_and_a_final_one(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/updates")] = Reply(200, {"ok": True})
    fake_http.routes[("GET", "/stats")] = Reply(200, {})
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    rb = runbook(CADENCE_RUNBOOK.format(title="Slow burn"), fake_http)
    intervals = 3
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "awaiting_approval")
        assert fake_http.calls("POST", "/updates") == []

        await time_env.sleep(intervals * timedelta(minutes=15) + timedelta(minutes=5))
        state = await wait_for(
            handle, lambda s: s.updates_posted >= intervals, f"{intervals} updates"
        )
        assert state.updates_posted == intervals
        assert state.updates_failed == 0
        posts = fake_http.calls("POST", "/updates")
        assert len(posts) == intervals
        texts = [post.body["text"] for post in posts]
        head = f"[SEV2] Slow burn ({handle.id}): awaiting approval, phase mitigate, 1/2 steps done"
        assert all(t.startswith(head) for t in texts), texts
        assert all("waiting for approval: rollback" in t for t in texts), texts
        # Each update says what happened since the one before, and how long the incident is open.
        assert "since the last update: step measure succeeded" in texts[0]
        assert all("since the last update" not in t for t in texts[1:]), texts
        assert [t.split(". declared ")[1].split(" ago")[0] for t in texts] == [
            f"{15 * n}m" if n < 4 else f"{n // 4}h" + (f"{15 * (n % 4)}m" if n % 4 else "")
            for n in range(1, intervals + 1)
        ]

        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="alice"))
        result = await finish(handle)

    assert result.status == "resolved"
    assert result.updates_posted == intervals + 1
    posts = fake_http.calls("POST", "/updates")
    assert len(posts) == intervals + 1
    assert posts[-1].body == {"text": f"[SEV2] Slow burn ({handle.id}): resolved — all steps done"}


async def test_failing_status_updates_do_not_stop_the_incident(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/updates")] = Reply(500, {"error": "chat is down"})
    fake_http.routes[("POST", "/fix")] = Reply(200, {})
    rb = runbook(
        """\
        name: lossy-updates
        title: Chat is down too
        updates:
          - {action: webhook.post, with: {url: FAKE/updates}}
        steps:
          - {id: fix, phase: mitigate, action: http.request, with: {method: POST, url: FAKE/fix}}
        """,
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        result = await finish(handle)

    assert result.status == "resolved"
    assert step(result, "fix").status == "succeeded"
    assert result.updates_failed == 1  # the final update, after its retries
    assert result.updates_posted == 0
    assert len(fake_http.calls("POST", "/updates")) == 3  # RETRY_POLICIES["update"]


# ---- search attributes ----------------------------------------------------------------


async def find(client: Client, query: str) -> list[str]:
    """Poll visibility (it lags) until `query` matches something (bounded)."""
    for _ in range(POLLS):
        found = [wf.id async for wf in client.list_workflows(query)]
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


async def test_search_attributes_track_the_incident(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    rb = gated_runbook(fake_http)
    client = dev_env.client
    async with worker(client, task_queue):
        handle = await start(client, task_queue, rb, severity="SEV1")
        await awaiting_rollback(handle, fake_http)
        waiting = f"WorkflowId = '{handle.id}' AND IncidentStatus = 'awaiting_approval'"
        assert await find(client, waiting) == [handle.id]
        assert (await handle.describe()).typed_search_attributes.get(sa.COMMANDER) is None
        await handle.execute_update(IncidentWorkflow.acknowledge_incident, Acknowledge(by="dana"))
        led = f"WorkflowId = '{handle.id}' AND IncidentCommander = 'dana'"
        assert await find(client, led) == [handle.id]
        await handle.execute_update(
            IncidentWorkflow.assign_role, Assign(role="commander", to="erin", by="dana")
        )
        handed = f"WorkflowId = '{handle.id}' AND IncidentCommander = 'erin'"
        assert await find(client, handed) == [handle.id]
        row = next(r for r in await views.list_incidents(client) if r.incident_id == handle.id)
        assert row.commander == "erin"
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="alice"))
        result = await finish(handle)
    assert result.status == "resolved"

    assert handle.id in await find(client, "IncidentStatus = 'resolved'")
    query = (
        f"WorkflowId = '{handle.id}' AND IncidentStatus = 'resolved' AND "
        "IncidentSeverity = 'SEV1' AND IncidentService = 'gated' AND "
        "IncidentRunbook = 'gated' AND IncidentPhase = 'verify'"
    )
    assert await find(client, query) == [handle.id]
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.STATUS) == "resolved"
    assert attrs.get(sa.SEVERITY) == "SEV1"


# ---- secrets --------------------------------------------------------------------------

TOKEN = "tok-7c1e9a0b5d3f"
HOOK = "hook-2b8d6f4a9e1c"


async def decoded(client: Client, history_json: str) -> str:
    """The history JSON with every payload through the client's codec (decrypted when the
    suite encrypts, `WARROOM_TEST_ENCRYPT=1`; as it was otherwise)."""
    codec = client.data_converter.payload_codec

    async def walk(node: Any) -> None:
        if isinstance(node, dict):
            if codec is not None and {"metadata", "data"} <= node.keys():
                (plain,) = await codec.decode([ParseDict(node, Payload())])
                node.clear()
                node.update(MessageToDict(plain))
                return
            for v in node.values():
                await walk(v)
        elif isinstance(node, list):
            for v in node:
                await walk(v)

    history = json.loads(history_json)
    await walk(history)
    return json.dumps(history)


def history_text(history_json: str) -> str:
    """The history JSON plus every base64 field decoded (payloads are base64 in JSON)."""
    texts = [history_json]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            with contextlib.suppress(binascii.Error, ValueError):
                texts.append(base64.b64decode(value, validate=True).decode("utf-8", "replace"))

    walk(json.loads(history_json))
    return "\n".join(texts)


async def test_secrets_never_enter_workflow_history(
    time_env: WorkflowEnvironment,
    task_queue: str,
    fake_http: FakeHttp,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", TOKEN)
    monkeypatch.setenv("WARROOM_SECRET_HOOK", HOOK)
    fake_http.routes[("GET", f"/{HOOK}/stats")] = Reply(200, {"echo": f"token={TOKEN}"})
    fake_http.routes[("POST", f"/{HOOK}/deploy")] = Reply(400, {"error": f"bad token {TOKEN}"})
    fake_http.routes[("POST", f"/{HOOK}/chat")] = Reply(200, {"seen": TOKEN})
    rb = runbook(
        """\
        name: secretive
        title: Secrets stay on the worker
        updates:
          - {action: webhook.post, with: {url: "FAKE/{{ secret.HOOK }}/chat"}}
        steps:
          - id: measure
            phase: triage
            action: http.request
            with:
              url: "FAKE/{{ secret.HOOK }}/stats"
              headers: {Authorization: "Bearer {{ secret.TOKEN }}"}
          - id: deploy
            phase: mitigate
            action: http.request
            with:
              method: POST
              url: "FAKE/{{ secret.HOOK }}/deploy"
              json: {token: "{{ secret.TOKEN }}"}
          - id: tell
            phase: communicate
            action: webhook.post
            with: {url: "FAKE/{{ secret.HOOK }}/chat", text: "{{ steps.measure.result.json.echo }}"}
        """,
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        state = await wait_for(handle, lambda s: s.status == "paused", "paused")
        assert TOKEN not in state.model_dump_json()
        assert HOOK not in state.model_dump_json()
        await handle.signal(IncidentWorkflow.skip_step, StepCommand(step="deploy", by="alice"))
        result = await finish(handle)
    assert result.status == "resolved"
    assert result.updates_posted == 1

    # The real values reached the far side ...
    assert fake_http.calls("GET", f"/{HOOK}/stats")[0].headers["Authorization"] == (
        f"Bearer {TOKEN}"
    )
    assert fake_http.calls("POST", f"/{HOOK}/deploy")[0].body == {"token": TOKEN}
    assert len(fake_http.calls("POST", f"/{HOOK}/chat")) == 2
    # ... and nothing that went into history carries them.
    history = history_text(await decoded(time_env.client, (await handle.fetch_history()).to_json()))
    assert "{{ secret.TOKEN }}" in history  # payloads were decoded: the templates are there
    assert "token=***" in history  # the echoed secret was scrubbed from the step result
    assert "bad token ***" in history  # and from the failure message
    assert TOKEN not in history
    assert HOOK not in history
    assert TOKEN not in result.model_dump_json()
