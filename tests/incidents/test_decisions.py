"""Sending human decisions (warroom.incidents.decisions, `warroom approve`): applied and confirmed, or
reported as not applied and then never applied, even when a worker comes back later."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp
from tests.workflows.test_incident import Handle, awaiting_rollback, gated_runbook, step
from warroom.contract.models import Decision, IncidentInput, StepState
from warroom.incidents import decisions
from worker import build_worker
from workflows.incident import IncidentWorkflow

#: A short workflow task timeout, so that a decision nobody took settles quickly.
TASK_TIMEOUT = timedelta(seconds=2)


async def start(client: Client, task_queue: str, fake: FakeHttp) -> Handle:
    return await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(runbook=gated_runbook(fake), summary="decisions", declared_by="tester"),
        id=f"inc-decisions-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        task_timeout=TASK_TIMEOUT,
    )


async def gated_then_worker_gone(client: Client, task_queue: str, fake: FakeHttp) -> Handle:
    """An incident waiting for approval whose only worker just stopped (the server still
    lists it as polling for a while, so only the deadline stands between a late decision
    and the rollback)."""
    async with build_worker(client, task_queue):
        handle = await start(client, task_queue, fake)
        await awaiting_rollback(handle, fake)
    return handle


async def approve_in_time(client: Client, handle: Handle, by: str) -> StepState:
    """With a worker back: a fresh approval applies, so any late one before it did not."""
    answer = await decisions.send(client, handle.id, "approve", Decision(step="rollback", by=by))
    assert isinstance(answer, StepState)
    return answer


async def test_no_polling_worker_means_nothing_is_sent(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    handle = await start(client, task_queue, fake_http)  # nobody polls this queue yet
    with pytest.raises(decisions.NotApplied) as info:
        await decisions.send(client, handle.id, "approve", Decision(step="rollback", by="alice"))
    assert str(info.value) == (
        f"not applied: no worker is polling task queue {task_queue!r}; start one with "
        "`warroom dev` or `warroom worker` (nothing was sent)"
    )
    assert info.value.update_id is None

    async with build_worker(client, task_queue):
        await awaiting_rollback(handle, fake_http)
        answer = await approve_in_time(client, handle, "bob")
        assert answer.decided_by == "bob"
        result = await handle.result()
    assert [(d.kind, d.by) for d in result.decisions] == [("approve", "bob")]


async def test_a_decision_no_worker_took_in_time_never_applies(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    handle = await gated_then_worker_gone(client, task_queue, fake_http)
    with pytest.raises(decisions.NotApplied) as info:
        await decisions.send(
            client,
            handle.id,
            "approve",
            Decision(step="rollback", by="alice"),
            window=timedelta(seconds=1),
        )
    assert str(info.value).startswith("not applied: no worker took the approve before ")
    assert str(info.value).endswith(" UTC; it will not apply")
    assert info.value.update_id is not None

    async with build_worker(client, task_queue):
        # The server kept the update; the worker that comes back refuses it.
        late = handle.get_update_handle(info.value.update_id, result_type=StepState)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(late.result(), 60)
        assert "arrived after its deadline" in str(refused.value.cause)
        state = await handle.query(IncidentWorkflow.status)
        assert step(state, "rollback").status == "awaiting_approval"
        assert fake_http.calls("POST", "/rollback") == []
        assert (await approve_in_time(client, handle, "bob")).decided_by == "bob"
        result = await handle.result()
    assert step(result, "rollback").decided_by == "bob"


async def test_ctrl_c_while_waiting_says_until_when_it_may_apply_and_it_does_not_after(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    handle = await gated_then_worker_gone(client, task_queue, fake_http)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "WARROOM_TASK_QUEUE": task_queue,
    }
    exe = str(Path(sys.executable).parent / "warroom")
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [exe, "approve", handle.id, "rollback", "--by", "alice"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []

    async def read_until(text: str) -> None:
        while not lines or text not in lines[-1]:
            line = await asyncio.to_thread(proc.stderr.readline)  # type: ignore[union-attr]
            assert line, f"stderr ended before {text!r}: {lines}"
            lines.append(line)

    try:
        await read_until("waiting for a worker to take the approve")
        proc.send_signal(signal.SIGINT)
        await read_until("still waiting for the outcome")
        proc.send_signal(signal.SIGINT)
        rest = await asyncio.to_thread(proc.stderr.read)
    finally:
        proc.kill()
        await asyncio.to_thread(proc.wait)
    assert proc.returncode == 130
    assert "Traceback" not in rest
    assert rest.startswith("stopped waiting: the approve applies only if a worker takes it before")
    assert "never after" in rest

    # Let the deadline pass (a wait, not an assertion), then bring a worker back.
    await asyncio.sleep((decisions.DECISION_WINDOW + decisions.CLOCK_MARGIN).total_seconds())
    async with build_worker(client, task_queue):
        assert (await approve_in_time(client, handle, "bob")).decided_by == "bob"
        result = await handle.result()
    assert [(d.kind, d.by) for d in result.decisions] == [("approve", "bob")]
    assert len(fake_http.calls("POST", "/rollback")) == 1
