"""The timeline read from history survives what the plain Temporal CLI can put there."""

from __future__ import annotations

import asyncio
import subprocess

from temporalio.testing import WorkflowEnvironment

from tests.conftest import installed_binary
from tests.fakehttp import FakeHttp
from tests.workflows.test_incident import awaiting_rollback, finish, gated_runbook, start
from warroom.contract.models import Decision
from warroom.incidents import views
from warroom.record.timeline import timeline
from worker import build_worker
from workflows.incident import IncidentWorkflow


async def temporal_signal(env: WorkflowEnvironment, workflow_id: str, name: str, data: str) -> None:
    command = [
        installed_binary("temporal"), "workflow", "signal",
        "--address", env.client.service_client.config.target_host,
        "--workflow-id", workflow_id, "--name", name, "--input", data,
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


async def test_a_malformed_signal_shows_as_ignored_and_the_timeline_goes_on(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    client = dev_env.client
    async with build_worker(client, task_queue):
        handle = await start(client, task_queue, gated_runbook(fake_http))
        await awaiting_rollback(handle, fake_http)
        await temporal_signal(dev_env, handle.id, "approve", '{"step": 123, "by": ["x"]}')
        await temporal_signal(dev_env, handle.id, "abort", '{"by": "eve\\nforged row"}')
        await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="alice"))
        result = await finish(handle)

    assert result.status == "resolved"  # the workflow dropped both
    assert [d.by for d in result.decisions] == ["alice"]
    entries = await timeline(client, handle.id)
    ignored = [(e.event, e.detail) for e in entries if e.event.startswith("malformed")]
    assert ignored == [
        (
            "malformed signal ignored",
            "approve: by: Input should be a valid string; step: Input should be a valid string",
        ),
        (
            "malformed signal ignored",
            "abort: by: Value error, must be a single line without control characters "
            "(found '\\n')",
        ),
    ]
    events = [(e.event, e.actor) for e in entries]
    assert ("approved", "alice") in events  # this run records refusals: no record, applied
    assert entries[-1].event == "closed: resolved"
    # `show` reads the same history for a closed run's attempts: it works too.
    assert (await views.status(client, handle.id)).status == "resolved"
