"""Cancelling an override on the dev server (a refused update stops the Java test server's time
skipping): one not begun is removed, one in progress ends now and the shift goes back to the
rotation; unknown and ended ones are refused with the reason; the person it put on call is
told once; the cancel holds across continue-as-new and a worker without a cache."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.fakehttp import FakeHttp
from tests.oncall.test_schedule_workflow import (  # noqa: F401 (hooks: a fixture)
    daily,
    hooks,
    posts,
    request,
    start,
    worker,
)
from warroom.access.roles import Principal, Role, RoleRequired, may_cancel_override
from warroom.contract.oncall import ScheduleState
from warroom.language.oncall import OnCallFile, Override
from warroom.language.oncall_time import shifts
from warroom.oncall.schedules import (
    OverrideRefused,
    ScheduleNotFound,
    add_override,
    cancel_override,
    who_is_on_call,
)
from workflows.schedule import ScheduleWorkflow

#: A recorded run with both kinds of cancel and a continue-as-new, replayed by
#: tests/oncall/test_schedule_replay.py.
HISTORY = Path(__file__).parent / "histories" / "schedule-cancel.json"
CANCELLED = "You are no longer on call for"


async def until(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        await asyncio.sleep(0.1)


async def continued(handle: WorkflowHandle[Any, Any], run: str, seconds: float) -> bool:
    """Whether the workflow continued as new from `run` within `seconds`."""
    deadline = time.monotonic() + seconds
    while (await handle.describe()).run_id == run:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_cancel_a_future_and_a_running_override(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    hooks: FakeHttp,  # noqa: F811
) -> None:
    client = dev_env.client
    now = datetime.now(UTC)
    schedule = daily(now - timedelta(days=1))  # someone is on call now, whatever the hour
    handle = await start(client, task_queue, schedule, continue_after_events=50)
    name = handle.id.removeprefix("oncall-")
    oncall = OnCallFile(schedules={name: schedule})
    first_run = (await handle.describe()).run_id

    def rotation(at: datetime) -> str | None:
        return shifts(schedule, [], at, at + timedelta(minutes=1))[0].who

    async def on_call(at: datetime) -> str | None:
        [answer] = await who_is_on_call(client, [name], at, oncall)
        return answer.who

    # No workflow cache: every task (updates, queries) rebuilds the workflow from its history,
    # as a restarted worker does.
    async with worker(client, task_queue, cache=0):
        running = await add_override(
            client, name, request("dave", now - timedelta(hours=1), 3), oncall
        )
        later = now + timedelta(hours=10)
        future = await add_override(client, name, request("carol", later, 5), oncall)
        assert await on_call(now + timedelta(minutes=1)) == "dave"
        assert await on_call(later + timedelta(hours=1)) == "carol"

        gone = await cancel_override(client, name, "o1", "alice", "mistake", oncall=oncall)
        assert gone == running.override  # as it was
        back = datetime.now(UTC) + timedelta(seconds=1)
        assert await on_call(back) == rotation(back)  # the shift went back to the rotation
        assert await on_call(now - timedelta(minutes=30)) == "dave"  # its past stays true
        gone = await cancel_override(client, name, "o2", "bob", None, oncall=oncall)
        assert gone == future.override
        assert await on_call(later + timedelta(hours=1)) == rotation(later + timedelta(hours=1))

        with pytest.raises(OverrideRefused, match=r"no override o9 in sre-\w+: it has none"):
            await cancel_override(client, name, "o9", "alice", oncall=oncall)
        with pytest.raises(OverrideRefused, match="override o1 \\(dave\\) already ended at"):
            await cancel_override(client, name, "o1", "alice", oncall=oncall)
        third = await add_override(client, name, request("bob", later, 2), oncall)
        with pytest.raises(OverrideRefused, match=r"no override o2 .* ones not ended are o3 \(bob"):
            await cancel_override(client, name, "o2", "alice", oncall=oncall)

        # Enough more events to continue as new; each override made is one update (and its
        # notice's activity, after which the run looks at its history's length).
        for day in range(2, 30):
            await add_override(client, name, request("bob", now + timedelta(days=day), 1), oncall)
            if await continued(handle, first_run, seconds=1):
                break
        assert await continued(handle, first_run, seconds=10), "it did not continue as new"
        await until(
            lambda: sum(CANCELLED in t for _, t in posts(hooks)) == 2, "the two cancel notices"
        )
        state: ScheduleState = await handle.query(ScheduleWorkflow.state)
        assert (await on_call(later + timedelta(hours=1))) == "bob"  # o3, not carol
        await handle.terminate()
    overrides = {o.id: o for o in state.overrides}
    assert "o2" not in overrides and overrides["o3"] == third.override
    assert now < overrides["o1"].end < datetime.now(UTC)  # ended at the cancel, carried so
    cancelled = [(p, t) for p, t in posts(hooks) if CANCELLED in t]
    assert [p for p, _ in cancelled] == ["dave", "carol"]  # once each
    assert "override o1 was cancelled by alice: mistake." in cancelled[0][1]
    assert cancelled[1][1].endswith("override o2 was cancelled by bob.")
    # The rotation took the shift back at the cancel: its person had the handoff notice.
    handoffs = [(n.person, n.start) for n in state.notices if n.kind == "handoff"]
    assert handoffs[0] == (rotation(back), overrides["o1"].end)
    kinds = [(n.kind, n.person, n.method) for n in state.notices if n.kind == "cancelled"]
    assert kinds == [("cancelled", "dave", "webhook"), ("cancelled", "carol", "webhook")]

    first = await client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    if os.environ.get("WARROOM_RECORD_HISTORIES"):  # to save a new history for the replay test
        HISTORY.write_text(first.to_json())
    await replay(first)


async def replay(history: WorkflowHistory) -> None:
    replayer = Replayer(workflows=[ScheduleWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_an_unknown_schedule_is_not_found(dev_env: WorkflowEnvironment) -> None:
    client: Client = dev_env.client
    with pytest.raises(ScheduleNotFound, match="no schedule 'nope'"):
        await cancel_override(client, "nope", "o1", "alice", oncall=OnCallFile())


@pytest.mark.parametrize(
    ("identity", "role", "allowed"),
    [
        ("erin", Role.responder, True),  # it put her on call
        ("dana", Role.responder, True),  # she made it
        ("carol", Role.responder, False),
        ("carol", Role.admin, True),
        ("erin", Role.viewer, False),
    ],
)
def test_who_may_cancel_an_override(identity: str, role: Role, allowed: bool) -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    made = Override(id="o4", who="erin", start=at, end=at, by="dana", reason="swap")
    principal = Principal(identity, role, "token:x")
    if allowed:
        assert may_cancel_override(principal, made) is principal
    else:
        with pytest.raises(RoleRequired, match=r"needs the (admin|responder) role"):
            may_cancel_override(principal, made)
