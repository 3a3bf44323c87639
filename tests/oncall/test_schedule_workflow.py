"""ScheduleWorkflow on the time-skipping server: four weeks of handoffs with three overrides run
their notices in seconds (each once, continue-as-new included), overrides are validated, and a
worker stopped across a handoff sends that notice once after it comes back."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.oncall_notify import oncall_notify
from tests.fakehttp import FakeHttp, Reply
from warroom.contract.oncall import OverrideRequest, ScheduleInput, ScheduleState
from warroom.language.oncall import Layer, OnCallFile, Rotation, Schedule
from warroom.language.oncall_time import shifts
from warroom.oncall.schedules import (
    OverrideRefused,
    add_override,
    sync_schedules,
    who_is_on_call,
)
from warroom.oncall.schedules import (
    shifts as shift_query,
)
from workflows.schedule import ScheduleWorkflow

MEMBERS = ["alice", "bob", "carol"]
#: A recorded first run (overrides, handoff notices, continue-as-new), replayed by
#: tests/oncall/test_schedule_replay.py.
HISTORY = Path(__file__).parent / "histories" / "schedule-four-weeks.json"


@pytest.fixture
def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHttp]:
    """Everyone is reached by a webhook on a loopback peer (people.yaml via $WARROOM_PEOPLE)."""
    with FakeHttp() as fake:
        people = tmp_path / "people.yaml"
        people.write_text(
            "".join(f"{n}: {{webhook: {fake.url}/hooks/{n}}}\n" for n in [*MEMBERS, "dave"])
        )
        monkeypatch.setenv("WARROOM_PEOPLE", str(people))
        for name in [*MEMBERS, "dave"]:
            fake.routes[("POST", f"/hooks/{name}")] = Reply(200, {"ok": True})
        yield fake


def daily(start: datetime) -> Schedule:
    return Schedule(
        timezone="Europe/Berlin",
        layers=[
            Layer(
                rotation=Rotation(every="1d", handoff="09:00", start=start.date()),
                members=MEMBERS,
            )
        ],
    )


@asynccontextmanager
async def worker(client: Client, queue: str, cache: int = 1000) -> AsyncIterator[None]:
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ScheduleWorkflow],
        activities=[oncall_notify],
        max_cached_workflows=cache,
    ):
        yield


def posts(fake: FakeHttp) -> list[tuple[str, str]]:
    """(person, text) of every notice the peer received, in order."""
    return [(r.path.rsplit("/", 1)[1], r.body["text"]) for r in fake.requests]


async def start(
    client: Client, queue: str, schedule: Schedule, **kwargs: int
) -> WorkflowHandle[ScheduleWorkflow, None]:
    name = f"sre-{uuid.uuid4().hex[:8]}"
    return await client.start_workflow(
        ScheduleWorkflow.run,
        ScheduleInput(name=name, schedule=schedule, **kwargs),
        id=f"oncall-{name}",
        task_queue=queue,
    )


def request(who: str, start: datetime, hours: float, **kwargs: object) -> OverrideRequest:
    return OverrideRequest(
        who=who,
        start=start,
        end=start + timedelta(hours=hours),
        by="alice",
        reason=str(kwargs.pop("reason", "swap")),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_four_weeks_with_three_overrides_send_every_notice_once_in_seconds(
    time_env: WorkflowEnvironment, task_queue: str, hooks: FakeHttp
) -> None:
    client = time_env.client
    began = await time_env.get_current_time()
    schedule = daily(began)
    async with worker(client, task_queue):
        handle = await start(client, task_queue, schedule, continue_after_events=120)
        first_run = (await handle.describe()).run_id
        overrides = []
        for i, (who, days) in enumerate([("dave", 3), ("carol", 10), ("bob", 20)]):
            at = began + timedelta(days=days, hours=2)
            accepted = await handle.execute_update(
                ScheduleWorkflow.override, request(who, at, 30, reason=f"swap {i}")
            )
            overrides.append(accepted.override)
            assert (accepted.warning is not None) == (who == "dave")
        wall = time.monotonic()
        await time_env.sleep(timedelta(days=28))
        elapsed = time.monotonic() - wall
        state: ScheduleState = await handle.query(ScheduleWorkflow.state)
        now = await time_env.get_current_time()
        ran_on = (await handle.describe()).run_id
        # Stopped while its worker still polls: nothing of it is left to hold the clock.
        await handle.terminate()
    first = await client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    if os.environ.get("WARROOM_RECORD_HISTORIES"):  # to save a new history for the replay test
        HISTORY.write_text(first.to_json())
    await Replayer(
        workflows=[ScheduleWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(first)

    expected: list[tuple[str | None, datetime]] = []
    previous = None
    for shift in shifts(schedule, overrides, began, now):
        if shift.start > began and shift.who != previous:
            expected.append((shift.who, shift.start))
        previous = shift.who
    handoffs = [(n.person, n.start) for n in state.notices if n.kind == "handoff"]
    # Only the latest NOTICES_KEPT notices stay in the state: compare what is there.
    assert handoffs == expected[-len(handoffs) :]
    assert len(expected) >= 25  # a daily rotation of three over four weeks, overrides included
    received = posts(hooks)
    assert len(received) == len(expected) + 3  # each handoff once, plus one per override
    assert [p for p, _ in received][:3] == ["dave", "carol", "bob"]
    assert "You are on call for" in received[-1][1]
    assert ran_on != first_run  # it continued as new, and went on
    assert all(n.method == "webhook" for n in state.notices)
    assert elapsed < 60, f"four weeks took {elapsed:.1f} s"
    print(f"4 weeks, {len(received)} notices in {elapsed:.1f} s")


async def test_overrides_are_validated(
    dev_env: WorkflowEnvironment, task_queue: str, hooks: FakeHttp
) -> None:
    """On the dev server: the Java test server stops skipping time after a refused update."""
    client = dev_env.client
    now = datetime.now(UTC)
    oncall = OnCallFile()
    async with worker(client, task_queue):
        handle = await start(client, task_queue, daily(now))
        name = handle.id.removeprefix("oncall-")
        oncall = OnCallFile(schedules={name: daily(now)})
        first = await add_override(
            client, name, request("bob", now + timedelta(hours=1), 5), oncall
        )
        refusals = {
            "overlaps o1: bob": request("carol", now + timedelta(hours=3), 5),
            "before it starts": request("carol", now + timedelta(hours=10), -1),
            "entirely in the past": request("carol", now - timedelta(days=2), 5),
        }
        for reason, refused in refusals.items():
            with pytest.raises(OverrideRefused, match=reason):
                await add_override(client, name, refused, oncall)
        with pytest.raises(ValueError, match="a reason is required"):
            request("carol", now, 1, reason="  ")
        replacing = request("carol", now + timedelta(hours=3), 5, replace=True)
        second = await add_override(client, name, replacing, oncall)
        assert second.replaced == [first.override]
        assert second.warning is None
        at = now + timedelta(hours=4)
        [answer] = await who_is_on_call(client, [name], at, oncall)
        assert answer.who == "carol" and answer.override == second.override
        listed = await shift_query(client, name, now, now + timedelta(days=2), oncall)
        marked = [s for s in listed.shifts if s.override]
        assert [(s.who, s.start, s.end) for s in marked] == [
            ("carol", second.override.start, second.override.end)
        ]
        await handle.terminate()


async def test_workers_restarted_around_a_handoff_send_its_notice_once(
    lone_env: WorkflowEnvironment, task_queue: str, hooks: FakeHttp
) -> None:
    """Three workers in turn: the first stops 5 minutes before the handoff, the second just
    after it, the third runs on; none keeps a cache, so each replays the history. The notice
    goes out once. (The Java test server cannot skip time while no worker polls, so each
    worker takes over at once.)"""
    client = lone_env.client
    now = await lone_env.get_current_time()
    schedule = daily(now)
    handoff = next(s.start for s in shifts(schedule, [], now, now + timedelta(days=2))[1:])
    incoming = shifts(schedule, [], handoff, handoff + timedelta(hours=1))[0].who
    # No workflow cache: the test server sends a stopped worker's sticky tasks nowhere else.
    async with worker(client, task_queue, cache=0):
        handle = await start(client, task_queue, schedule)
        await handle.query(ScheduleWorkflow.state)  # the run has started and armed its timer
        await lone_env.sleep(handoff - now - timedelta(minutes=5))
    assert posts(hooks) == []
    async with worker(client, task_queue, cache=0):
        await lone_env.sleep(timedelta(minutes=6))
    assert [p for p, _ in posts(hooks)] == [incoming]
    async with worker(client, task_queue, cache=0):
        await lone_env.sleep(timedelta(hours=2))
        state: ScheduleState = await handle.query(ScheduleWorkflow.state)
        await handle.terminate()
    assert [(n.person, n.start) for n in state.notices] == [(incoming, handoff)]
    assert len(posts(hooks)) == 1


async def test_the_worker_start_sends_a_changed_file_to_the_running_schedule(
    time_env: WorkflowEnvironment, task_queue: str, hooks: FakeHttp
) -> None:
    client = time_env.client
    now = await time_env.get_current_time()
    name = f"sre-{uuid.uuid4().hex[:8]}"
    before = OnCallFile(schedules={name: daily(now)})
    changed = daily(now).model_copy(update={"timezone": "America/New_York"})
    after = OnCallFile(schedules={name: changed})
    async with worker(client, task_queue):
        assert await sync_schedules(client, before, task_queue) == [name]
        handle = client.get_workflow_handle(f"oncall-{name}")
        run = (await handle.describe()).run_id
        await sync_schedules(client, after, task_queue)
        state = await handle.query(ScheduleWorkflow.state, result_type=ScheduleState)
        assert state.schedule.timezone == "America/New_York"
        assert (await handle.describe()).run_id == run  # the same workflow, its overrides kept
        await handle.terminate()


async def test_someone_on_call_for_months_is_told_nothing_twice(
    time_env: WorkflowEnvironment, task_queue: str, hooks: FakeHttp
) -> None:
    """One member: no handoff ever; the workflow wakes every LOOKAHEAD and sends nothing."""
    client = time_env.client
    now = await time_env.get_current_time()
    alone = Schedule(
        timezone="UTC",
        layers=[Layer(rotation=Rotation(every="1w", handoff="mon 09:00"), members=["alice"])],
    )
    async with worker(client, task_queue):
        handle = await start(client, task_queue, alone)
        await handle.query(ScheduleWorkflow.state)
        await time_env.sleep(timedelta(days=80))
        state: ScheduleState = await handle.query(ScheduleWorkflow.state)
        await handle.terminate()
    assert state.notices == [] and posts(hooks) == []
    assert (await time_env.get_current_time()) - now >= timedelta(days=80)
