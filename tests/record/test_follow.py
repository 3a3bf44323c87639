"""`warroom timeline ID --follow` as a user runs it: a real process against the dev server prints
each entry as it happens and exits 0 when the incident ends."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import runbook, wait_for
from warroom.contract.models import Decision, IncidentInput
from warroom.record.timeline import timeline
from worker import build_worker
from workflows.incident import IncidentWorkflow

RUNBOOK = """\
name: followed
title: Followed checkout
steps:
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice]}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
  - id: verify
    phase: verify
    approval: {approvers: [bob]}
    action: http.request
    with: {url: FAKE/verify}
"""
#: How long to wait for the next line before the test gives up (a bound, not a measure).
LINE_BOUND_SECONDS = 60


class Lines:
    """A process's stdout read entry by entry, each line waited for with a bound."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream
        self.seen: list[dict[str, Any]] = []

    async def _next(self) -> dict[str, Any] | None:
        try:
            line = await asyncio.wait_for(self._stream.readline(), LINE_BOUND_SECONDS)
        except TimeoutError:
            pytest.fail(f"no new entry came; entries so far: {self.seen}")
        if not line:
            return None
        entry: dict[str, Any] = json.loads(line)
        self.seen.append(entry)
        return entry

    async def until(self, event: str, step: str | None = None) -> dict[str, Any]:
        """Read entries until one tells `event` (of `step`); fail at the end of the output."""
        while (entry := await self._next()) is not None:
            if entry["event"] == event and (step is None or entry["step"] == step):
                return entry
        pytest.fail(f"the output ended before {event!r}; entries: {self.seen}")

    async def rest(self) -> list[dict[str, Any]]:
        """Every entry, up to the end of the output."""
        while await self._next() is not None:
            pass
        return self.seen


async def test_follow_streams_entries_as_they_happen_and_exits_when_the_incident_ends(
    dev_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    fake_http.routes[("GET", "/verify")] = Reply(200, {})
    client = dev_env.client
    env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host}
    async with build_worker(client, task_queue):
        handle = await client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                runbook=runbook(RUNBOOK, fake_http), summary="followed", declared_by="dana"
            ),
            id=f"inc-{task_queue}",
            task_queue=task_queue,
        )
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "the first gate")
        exe = str(Path(sys.executable).parent / "warroom")
        proc = await asyncio.create_subprocess_exec(
            exe, "timeline", handle.id, "--follow", "--json",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stdout is not None and proc.stderr is not None
            lines = Lines(proc.stdout)
            assert (await lines.until("declared"))["actor"] == "dana"
            await lines.until("approval requested", "rollback")
            # Nobody decided anything yet, so no entry tells a decision.
            assert [e["actor"] for e in lines.seen if e["source"] == "person"] == ["dana"]

            await handle.execute_update(
                IncidentWorkflow.approve_step, Decision(step="rollback", by="alice")
            )
            assert (await lines.until("approved", "rollback"))["actor"] == "alice"
            await lines.until("approval requested", "verify")
            assert proc.returncode is None  # the incident waits at its second gate

            await handle.execute_update(
                IncidentWorkflow.approve_step, Decision(step="verify", by="bob")
            )
            streamed = await lines.rest()
            code = await asyncio.wait_for(proc.wait(), LINE_BOUND_SECONDS)
            assert code == 0, await proc.stderr.read()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    # What it streamed is the whole timeline, in order, up to the close.
    whole = [e.model_dump(mode="json") for e in await timeline(client, handle.id)]
    assert streamed == whole
    assert streamed[-1]["event"] == "closed: resolved"
