"""The timeline's facts match the raw history: a real incident on the dev server, its timeline
cross-checked against `temporal workflow show --output json` for the same incident, parsed here
without warroom's history reader (that independence is the point of the check)."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import installed_binary
from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import finish, runbook, wait_for
from warroom.contract.models import Decision, IncidentInput, Note, StepCommand
from warroom.record.timeline import timeline
from worker import build_worker
from workflows.incident import IncidentWorkflow

RUNBOOK = """\
name: fidelity
title: Fidelity checkout
severity: SEV2
updates: [{action: webhook.post, with: {url: "FAKE/updates"}}]
steps:
  - id: look
    phase: triage
    action: http.request
    with: {url: "FAKE/look"}
    retry: {max_attempts: 3, initial_interval: 1s}
  - id: rollback
    phase: mitigate
    approval: {approvers: [alice, bob]}
    action: http.request
    with: {method: POST, url: FAKE/rollback}
    retry: {max_attempts: 2, initial_interval: 1s}
    on_failure: pause
  - id: verify
    phase: verify
    action: http.request
    with: {url: "FAKE/verify"}
"""
#: Status updates every second while the incident is open (the dev server runs in real time;
#: under the runbook language's one-minute floor, which applies to loaded runbooks only).
CADENCE = {"SEV1": timedelta(seconds=1), "SEV2": timedelta(seconds=1)}


def script(fake: FakeHttp) -> None:
    """`look` fails once and succeeds on its second attempt; `rollback` fails both of its
    attempts (the incident pauses) until it is retried by hand; the first update fails once."""
    fake.routes[("GET", "/look")] = [Reply(503, {"error": "warming up"}), Reply(200, {})]
    fake.routes[("POST", "/rollback")] = Reply(500, {"error": "deploy API down"})
    fake.routes[("GET", "/verify")] = Reply(200, {})
    fake.routes[("POST", "/updates")] = [Reply(502, {}), Reply(200, {})]


async def run_incident(
    client: Client, task_queue: str, fake: FakeHttp, incident_id: str
) -> WorkflowHandle[Any, Any]:
    """The whole incident, from declaration to its close; the handle of the closed incident."""
    rb = runbook(RUNBOOK, fake)
    rb = rb.model_copy(update={"cadence": CADENCE})
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(runbook=rb, summary="5xx after deploy", declared_by="dana"),
        id=incident_id,
        task_queue=task_queue,
    )
    await wait_for(handle, lambda s: s.status == "awaiting_approval", "the gate")
    await wait_for(handle, lambda s: s.updates_posted >= 2, "two status updates")
    await handle.execute_update(IncidentWorkflow.add_note, Note(by="erin", text="bridge open"))
    await approve(handle)
    await wait_for(handle, lambda s: s.status == "paused", "the pause")
    fake.routes[("POST", "/rollback")] = Reply(200, {})
    await handle.execute_update(
        IncidentWorkflow.retry_failed_step, StepCommand(step="rollback", by="bob")
    )
    await finish(handle)
    return handle


async def approve(handle: WorkflowHandle[Any, Any]) -> None:
    """A refused approval (not an approver, by signal), then alice's, with a comment."""
    await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by="mallory"))
    await handle.execute_update(
        IncidentWorkflow.approve_step,
        Decision(step="rollback", by="alice", comment="go ahead, 5xx at 12%"),
    )


def raw_history(
    env: WorkflowEnvironment, incident_id: str, codec: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The events as the plain Temporal CLI prints them (decoded through `codec`, the
    `codec_args` fixture's, when the suite encrypts)."""
    address = env.client.service_client.config.target_host
    show = ["workflow", "show", "--output", "json", "--address", address, *codec, "--workflow-id"]
    done = subprocess.run(
        [installed_binary("temporal"), *show, incident_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events: list[dict[str, Any]] = json.loads(done.stdout)["events"]
    return events


def payload(payloads: dict[str, Any] | None) -> Any:
    """The first JSON payload of a `{"payloads": [{"data": base64}]}` field, decoded."""
    if not payloads or not payloads.get("payloads"):
        return None
    return json.loads(base64.b64decode(payloads["payloads"][0]["data"]))


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = next(v for k, v in event.items() if k.endswith("EventAttributes"))
    return attrs


def when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["eventTime"])


def kind(event: dict[str, Any]) -> str:
    """`ActivityTaskFailed`, whichever way the CLI spells the type."""
    name = str(event["eventType"])
    if name.startswith("EVENT_TYPE_"):
        name = "".join(w.capitalize() for w in name.removeprefix("EVENT_TYPE_").split("_"))
    return name


def activity_ends(events: list[dict[str, Any]]) -> list[tuple[str, str, int, datetime]]:
    """(step, outcome, attempt, time) of each activity that ended, from the raw events: the
    step its input names, the attempt its Started event counts."""
    by_id = {int(e["eventId"]): e for e in events}
    ends = {"ActivityTaskCompleted": "succeeded", "ActivityTaskFailed": "failed"}
    started = {
        int(attributes(e)["scheduledEventId"]): int(attributes(e).get("attempt", 1))
        for e in events
        if kind(e) == "ActivityTaskStarted"
    }
    found = []
    for e in events:
        if kind(e) in ends:
            scheduled_id = int(attributes(e)["scheduledEventId"])
            step = payload(attributes(by_id[scheduled_id])["input"])["step"]
            found.append((step, ends[kind(e)], started[scheduled_id], when(e)))
    return found


def decisions(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str, datetime]]:
    """(name, by, step, comment, time) of each approve/reject signal or accepted update."""
    found = []
    for e in events:
        attrs = attributes(e)
        if kind(e) == "WorkflowExecutionSignaled":
            name, args = attrs["signalName"], payload(attrs.get("input"))
        elif kind(e) == "WorkflowExecutionUpdateAccepted":
            request = attrs["acceptedRequest"]["input"]
            name, args = request["name"], payload(request.get("args"))
        else:
            continue
        if name.startswith(("approve", "reject")):
            found.append((name, args["by"], args["step"], args.get("comment", ""), when(e)))
    return found


#: The raw event type each kind of entry is read from.
SOURCES = {
    "declared": "WorkflowExecutionStarted",
    "step started": "ActivityTaskScheduled",
    "step succeeded": "ActivityTaskCompleted",
    "step failed": "ActivityTaskFailed",
    "status update posted": "ActivityTaskCompleted",
    "postmortem written": "ActivityTaskCompleted",
    "record archived": "ActivityTaskCompleted",
    "state": "UpsertWorkflowSearchAttributes",
    "closed: resolved": "WorkflowExecutionCompleted",
}
RECORDED = "WorkflowPropertiesModified"  # the workflow's own records (a memo upsert)
PEOPLE = ("WorkflowExecutionUpdateAccepted", "WorkflowExecutionSignaled")


async def test_the_timeline_matches_the_raw_history_of_the_same_incident(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    fake_http: FakeHttp,
    codec_args: tuple[str, ...],
):
    script(fake_http)
    async with build_worker(dev_env.client, task_queue):
        handle = await run_incident(dev_env.client, task_queue, fake_http, f"inc-{task_queue}")
    entries = await timeline(dev_env.client, handle.id)
    events = await asyncio.to_thread(raw_history, dev_env, handle.id, codec_args)

    # Every entry is an event of the history, at that event's time, of the kind it tells.
    times: dict[datetime, set[str]] = {}
    for e in events:
        times.setdefault(when(e), set()).add(kind(e))
    for entry in entries:
        expected = SOURCES.get(entry.event)
        if expected is None:
            expected = RECORDED if entry.source == "automation" else None
        kinds = times.get(entry.time, set())
        assert (expected in kinds) if expected else bool(kinds & set(PEOPLE)), (entry, kinds)
        assert entry.elapsed == (entry.time - entries[0].time).total_seconds()

    # The same step attempts: each activity's last attempt, its outcome and time.
    told = [
        (e.step, e.event.removeprefix("step "), e.attempt, e.time)
        for e in entries
        if e.event in ("step succeeded", "step failed")
    ]
    ended = activity_ends(events)
    raw = [end for end in ended if end[0] in ("look", "rollback", "verify")]
    assert told == raw
    assert [(s, o, a) for s, o, a, _ in raw] == [
        ("look", "succeeded", 2),
        ("rollback", "failed", 2),
        ("rollback", "succeeded", 1),
        ("verify", "succeeded", 1),
    ]

    # The same approval actors and times, the refused one included; the granted one's comment.
    raw_decisions = decisions(events)
    assert [(by, s, c) for _, by, s, c, _ in raw_decisions] == [
        ("mallory", "rollback", ""),
        ("alice", "rollback", "go ahead, 5xx at 12%"),
    ]
    told_decisions = [e for e in entries if e.event in ("approved", "approve refused")]
    assert [(e.actor, e.step, e.time) for e in told_decisions] == [
        (by, s, t) for _, by, s, _, t in raw_decisions
    ]
    assert [e.event for e in told_decisions] == ["approve refused", "approved"]
    assert told_decisions[1].detail == raw_decisions[1][3]

    # The same status updates: one entry per update activity, with its attempts.
    told_updates = [(e.time, e.attempt) for e in entries if e.event == "status update posted"]
    raw_updates = [(t, a) for s, o, a, t in ended if s.startswith("update-")]
    assert told_updates == raw_updates
    assert len(raw_updates) >= 3 and raw_updates[0][1] == 2  # the first one failed once
