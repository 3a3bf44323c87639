"""`list` filters before it limits (status, severity, service, runbook go into the visibility
query), and lists in the order it says: open incidents first, newest first, then closed ones,
most recently closed first. On the real dev server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from warroom.contract.models import IncidentInput
from warroom.incidents import views
from warroom.language.runbook import Runbook, Severity
from worker import build_worker
from workflows.incident import IncidentWorkflow


def runbook(name: str, *, gated: bool) -> Runbook:
    """A runbook that closes at once (a note), or one that waits for an approval nobody gives."""
    steps: list[dict[str, object]] = [
        {"id": "say", "phase": "triage", "action": "note", "with": {"text": "hello"}}
    ]
    if gated:
        steps.append(
            {
                "id": "fix",
                "phase": "mitigate",
                "approval": {"approvers": ["alice"]},
                "action": "note",
                "with": {"text": "fixed"},
            }
        )
    return Runbook.model_validate(
        {"name": name, "title": "List filters", "service": f"svc-{name}", "steps": steps}
    )


async def start(client: Client, task_queue: str, rb: Runbook, severity: Severity) -> str:
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(runbook=rb, summary="listed", declared_by="tester", severity=severity),
        id=f"inc-{rb.name}-{uuid.uuid4().hex[:10]}",
        task_queue=task_queue,
    )
    return handle.id


async def settled(client: Client, name: str, expected: dict[str, str]) -> list[str]:
    """The incidents of runbook `name` once visibility shows each with its expected status."""
    rows: list[views.IncidentSummary] = []
    for _ in range(200):
        rows = await views.list_incidents(client, runbook=name)
        if {r.incident_id: r.status for r in rows} == expected:
            return [r.incident_id for r in rows]
        await asyncio.sleep(0.05)
    pytest.fail(f"visibility never settled: {[(r.incident_id, r.status) for r in rows]}")


async def test_filters_apply_before_the_limit_and_the_order_is_as_said(
    dev_env: WorkflowEnvironment, task_queue: str
):
    client = dev_env.client
    name = f"list-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue):
        resolved = []
        for _ in range(3):
            resolved.append(await start(client, task_queue, runbook(name, gated=False), "SEV3"))
            await client.get_workflow_handle(resolved[-1]).result()
        waiting = [await start(client, task_queue, runbook(name, gated=True), "SEV1")]
        waiting += [await start(client, task_queue, runbook(name, gated=True), "SEV1")]
        waiting += [await start(client, task_queue, runbook(name, gated=True), "SEV1")]
        try:
            expected = {i: "resolved" for i in resolved} | {i: "awaiting_approval" for i in waiting}
            order = await settled(client, name, expected)
            # Open incidents first, newest first; then closed ones, the last closed first.
            assert order == [*reversed(waiting), *reversed(resolved)]

            # The newest incidents of all are the waiting ones: a limit applied before the
            # filter would find no resolved one among them.
            rows = await views.list_incidents(client, runbook=name, status="resolved", limit=2)
            assert [r.incident_id for r in rows] == [resolved[2], resolved[1]]
            rows = await views.list_incidents(client, status="resolved", limit=2)
            assert len(rows) == 2 and {r.status for r in rows} == {"resolved"}
            rows = await views.list_incidents(client, runbook=name, severity="SEV3", limit=2)
            assert [r.incident_id for r in rows] == [resolved[2], resolved[1]]
            rows = await views.list_incidents(client, service=f"svc-{name}", severity="SEV3")
            assert [r.incident_id for r in rows] == list(reversed(resolved))
            rows = await views.list_incidents(client, severity="SEV3", limit=3)
            assert len(rows) == 3 and {r.severity for r in rows} == {"SEV3"}
            rows = await views.list_incidents(client, runbook=name, status="awaiting_approval")
            assert [r.incident_id for r in rows] == list(reversed(waiting))
            assert await views.list_incidents(client, runbook=name, status="aborted") == []
            # Each narrowing clause is one the server takes (`IS NULL` for "active", ...).
            for status in ("active", "stalled", "terminated"):
                assert await views.list_incidents(client, runbook=name, status=status) == []
        finally:
            for incident_id in waiting:
                await client.get_workflow_handle(incident_id).terminate(reason="test over")


@pytest.mark.parametrize(
    ("filters", "clause"),
    [
        ({"severity": "SEV1"}, "IncidentSeverity = 'SEV1'"),
        ({"runbook": "checkout-5xx"}, "IncidentRunbook = 'checkout-5xx'"),
        ({"service": "check out"}, "IncidentService = 'check out'"),
        ({"status": "resolved"}, "IncidentStatus = 'resolved'"),
        ({"status": "active"}, "(IncidentStatus = 'active' OR IncidentStatus IS NULL)"),
        ({"status": "terminated"}, "ExecutionStatus = 'Terminated'"),
        ({"status": "timed_out"}, "ExecutionStatus = 'TimedOut'"),
        ({"status": "stalled"}, "ExecutionStatus = 'Running'"),
    ],
)
def test_each_filter_narrows_the_visibility_query(filters: dict[str, str], clause: str):
    assert views.visibility_query(**filters) == f"{views.LIST_QUERY} AND {clause}"


@pytest.mark.parametrize("value", ["x' OR '1'='1", "a\\", 'say "hi"', "line\nbreak"])
def test_a_value_that_is_no_safe_literal_stays_out_of_the_query(value: str):
    # Filtered row by row instead: nothing of it reaches the server's query parser.
    assert views.visibility_query(service=value, status=value) == views.LIST_QUERY
