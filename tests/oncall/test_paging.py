"""An incident escalates through an on-call policy on the time-skipping server: level 1 pages
whoever is on call when it fires, level 2 an hour later pages whoever is on call then (the
hourly rotation has handed off) and a named person; a Slack-first person is reached by the
next method when the worker has no Slack token; each page is a timeline entry; the recorded history replays."""

from __future__ import annotations

import asyncio
import os
import textwrap
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_lifecycle import continued_as_new
from tests.workflows.test_replay import patches
from warroom.contract.models import Decision, IncidentInput, IncidentState
from warroom.language.loader import parse_runbook
from warroom.language.oncall_file import load_oncall
from warroom.language.oncall_time import who_is_on_call
from warroom.oncall.schedules import sync_schedules
from warroom.record.postmortem import postmortem
from warroom.record.timeline import story, timeline
from worker import build_worker
from workflows.cadence import PATCH_ESCALATION_CARRIED
from workflows.context import PATCH_APPROVAL_CARRIED
from workflows.incident import IncidentWorkflow
from workflows.paging import PATCH_ONCALL_APPROVERS, PATCH_ONCALL_POLICY

HISTORY = Path(__file__).parent / "histories" / "incident-policy.json"
GATE_HISTORY = Path(__file__).parent / "histories" / "incident-oncall-approver.json"
#: The run after a continue-as-new in the middle of a policy's escalation.
CONTINUED_HISTORY = Path(__file__).parent / "histories" / "incident-policy-continued.json"

ONCALL = """\
schedules:
  {name}:
    timezone: UTC
    layers:
      - rotation: {{every: 1h, handoff: "00:00"}}
        members: [alice, bob]
policies:
  pol:
    levels:
      - {{notify: [oncall: {name}], wait: 5m}}
      - {{notify: [oncall: {name}, person: carol], wait: 1h}}
"""

RUNBOOK = """\
name: paged-policy
title: Paged through a policy
severity: SEV2
escalation: {policy: pol, acknowledge_within: 5m}
steps:
  - id: hold
    phase: triage
    approval: {approvers: [carol]}
    action: http.request
    with: {url: "https://example.invalid/never"}
"""


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeHttp, str]]:
    name = f"pg-{uuid.uuid4().hex[:6]}"
    with FakeHttp() as fake:
        (tmp_path / "oncall.yaml").write_text(ONCALL.format(name=name))
        (tmp_path / "people.yaml").write_text(
            f"alice: {{slack: U024BE7LH, webhook: {fake.url}/alice, contact: [slack, webhook]}}\n"
            f"bob: {{webhook: {fake.url}/bob}}\n"
            f"carol: {{webhook: {fake.url}/carol}}\n"
        )
        monkeypatch.setenv("WARROOM_ONCALL", str(tmp_path / "oncall.yaml"))
        monkeypatch.delenv("WARROOM_SLACK_BOT_TOKEN", raising=False)
        for who in ("alice", "bob", "carol"):
            fake.routes[("POST", f"/{who}")] = Reply(200, {})
        yield fake, name


async def declare(
    client: Client, queue: str, runbook: str
) -> WorkflowHandle[IncidentWorkflow, IncidentState]:
    return await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            runbook=parse_runbook(textwrap.dedent(runbook)), summary="t", declared_by="t"
        ),
        id=f"inc-oncall-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )


async def test_a_policy_pages_whoever_is_on_call_when_each_level_fires(
    own_env: WorkflowEnvironment, task_queue: str, world: tuple[FakeHttp, str]
) -> None:
    fake, name = world
    client = own_env.client
    oncall = load_oncall(Path(os.environ["WARROOM_ONCALL"]))
    schedule = oncall.schedules[name]
    async with build_worker(client, task_queue):
        await sync_schedules(client, oncall, task_queue)
        began = await own_env.get_current_time()
        handle = await declare(client, task_queue, RUNBOOK)
        await own_env.sleep(timedelta(minutes=70))
        entries = await timeline(client, handle.id)
        draft = postmortem(await story(client, handle.id))
        history = await handle.fetch_history()
        await handle.terminate()
        # A schedule left running would hold the time-skipping server's clock for later tests.
        await client.get_workflow_handle(f"oncall-{name}").terminate()
    first = who_is_on_call(schedule, [], began + timedelta(minutes=5)).who
    second = who_is_on_call(schedule, [], began + timedelta(minutes=65)).who
    assert first != second  # the rotation handed off between the levels
    # The schedule's own shift notices ("On call: ...") go to the same hooks: pages only.
    pages = [r for r in fake.requests if r.body["text"].startswith("[SEV2] Paged through")]
    assert [r.path.lstrip("/") for r in pages] == [first, second, "carol"]
    assert "escalation level 2" in pages[1].body["text"]
    paged = [e.detail for e in entries if e.event == "paged"]
    assert paged[0].startswith(f"level 1: {first} by webhook (on call for {name})")
    assert paged[1].startswith(f"level 2: {second} by webhook (on call for {name})")
    assert paged[2] == "level 2: carol by webhook (named by the policy)"
    slack_first = paged[0] if first == "alice" else paged[1]
    assert slack_first.endswith("slack: WARROOM_SLACK_BOT_TOKEN is not set on the worker")
    assert not [e for e in entries if "page-" in (e.step or "")]  # told by the records only
    assert f"- Paged: level 1: {first} by webhook (on call for {name})" in draft  # who was engaged
    if os.environ.get("WARROOM_RECORD_HISTORIES"):
        HISTORY.write_text(history.to_json())


async def test_a_policy_goes_on_where_it_was_after_continuing_as_new(
    own_env: WorkflowEnvironment, task_queue: str, world: tuple[FakeHttp, str]
) -> None:
    """Level 1 paged, then an alert storm makes the run continue as new: the next run pages
    level 2 when it is due (an hour after level 1), not level 1 again."""
    fake, name = world
    client = own_env.client
    oncall = load_oncall(Path(os.environ["WARROOM_ONCALL"]))
    async with build_worker(client, task_queue):
        await sync_schedules(client, oncall, task_queue)
        handle = await declare(client, task_queue, RUNBOOK)
        first_run = (await handle.describe()).run_id
        await own_env.sleep(timedelta(minutes=6))  # level 1 at +5 min
        await continued_as_new(handle, first_run)
        await own_env.sleep(timedelta(minutes=60))  # level 2 at +65 min
        state = await handle.query(IncidentWorkflow.status)
        history = await handle.fetch_history()
        await handle.terminate()
        await client.get_workflow_handle(f"oncall-{name}").terminate()
    assert (await handle.describe()).run_id != first_run  # it did continue as new
    assert [e.level for e in state.escalations] == [1, 2]
    pages = [r for r in fake.requests if r.body["text"].startswith("[SEV2] Paged through")]
    assert len(pages) == 3 and "carol" in [r.path.lstrip("/") for r in pages]
    assert [("escalation level 2" in r.body["text"]) for r in pages] == [False, True, True]
    if os.environ.get("WARROOM_RECORD_HISTORIES"):
        CONTINUED_HISTORY.write_text(history.to_json())


@pytest.mark.parametrize(
    ("path", "patch"),
    [
        (HISTORY, PATCH_ONCALL_POLICY),
        (GATE_HISTORY, PATCH_ONCALL_APPROVERS),
        (CONTINUED_HISTORY, PATCH_ESCALATION_CARRIED),
    ],
)
async def test_the_recorded_incidents_replay(path: Path, patch: str) -> None:
    assert patch in patches(path)
    if path == CONTINUED_HISTORY:  # its gate was asked in the run before: not asked again
        assert PATCH_APPROVAL_CARRIED in patches(path)
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(recorded(path))


def recorded(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json("inc-recorded", path.read_text())


GATED = """\
name: oncall-gate
title: Approved by whoever is on call
severity: SEV3
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: ["oncall:SCHED"]}
    action: http.request
    with: {url: "https://example.invalid/never"}
"""


async def test_an_oncall_approver_is_whoever_is_on_call_when_the_gate_opens(
    own_env: WorkflowEnvironment, task_queue: str, world: tuple[FakeHttp, str]
) -> None:
    _, name = world
    client = own_env.client
    oncall = load_oncall(Path(os.environ["WARROOM_ONCALL"]))
    async with build_worker(client, task_queue):
        await sync_schedules(client, oncall, task_queue)
        began = await own_env.get_current_time()
        handle = await declare(client, task_queue, GATED.replace("SCHED", name))
        state = await handle.query(IncidentWorkflow.status)
        for _ in range(100):
            if state.steps[0].status == "awaiting_approval":
                break
            await asyncio.sleep(0.05)
            state = await handle.query(IncidentWorkflow.status)
        person = who_is_on_call(oncall.schedules[name], [], began).who
        other = "bob" if person == "alice" else "alice"
        assert state.steps[0].approvers == [person]
        assert state.steps[0].oncall_approvers == {f"oncall:{name}": person}
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                IncidentWorkflow.approve_step, Decision(step="fix", by=other)
            )
        assert f"{other} is not an approver of step 'fix' (approvers: {person})" in str(
            refused.value.cause
        )
        approved = await handle.execute_update(
            IncidentWorkflow.approve_step, Decision(step="fix", by=person)
        )
        assert approved.approved_by == [person]
        entries = await timeline(client, handle.id)
        history = await handle.fetch_history()
        await handle.terminate()
        await client.get_workflow_handle(f"oncall-{name}").terminate()
    if os.environ.get("WARROOM_RECORD_HISTORIES"):
        GATE_HISTORY.write_text(history.to_json())
    [said] = [e.detail for e in entries if e.event == "approvers resolved"]
    assert said == f"oncall:{name} is {person}"
