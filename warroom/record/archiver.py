"""`archive.write`: when an incident closes, the workflow's last activity stores its whole
record in the archive (`WARROOM_ARCHIVE_URL`): final state, timeline, metrics, postmortem
draft, every alert fingerprint that joined (read from the alert signals in the histories: a
storm's state keeps only some alerts) and the raw history of every run of its chain.

The activity runs before the workflow completes, so the history it stores stops there; once
the run has completed, the same worker stores the record again with the whole history and the
final result (same row: a write is an upsert by incident id and chain). Retried by the
workflow until stored: an archive that is down delays the record, never loses it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from warroom.archive.store import Archive, Record, configured
from warroom.contract.closing import ARCHIVE_ACTIVITY
from warroom.contract.models import IncidentState
from warroom.record.metrics import of_story
from warroom.record.postmortem import postmortem
from warroom.record.report import needed_a_person
from warroom.record.timeline import chain, read_runs, told
from workflows.incident import IncidentWorkflow

log = logging.getLogger(__name__)

#: How long the worker waits for the run to complete before it stores the whole history
#: (the workflow completes right after this activity: seconds, unless the worker is stopped).
FINISH_WAIT = timedelta(minutes=10)


async def build(
    client: Client, incident_id: str, run_id: str, state: IncidentState, *, complete: bool
) -> Record:
    """The record of the chain that ends with run `run_id`, as its histories tell it now."""
    runs = await chain(client, incident_id, run_id)
    histories = await read_runs(client, [events for _, events in runs])
    story = told(incident_id, histories)
    metrics = of_story(story)
    return Record(
        incident_id=incident_id,
        chain_id=runs[0][0],
        last_run_id=run_id,
        title=state.title,
        summary=state.summary,
        service=state.service,
        runbook=state.runbook,
        severity=state.severity,
        status=state.status,
        declared_at=state.started_at,
        closed_at=state.closed_at,
        state=state.model_dump(mode="json"),
        metrics=metrics.model_dump(mode="json"),
        needed_a_person=needed_a_person(story, metrics),
        postmortem=postmortem(story),
        # Read from the alert signals of every run: the state keeps only some alerts' labels.
        fingerprints=sorted(histories.fingerprints),
        runs=[(rid, WorkflowHistory(incident_id, events).to_json()) for rid, events in runs],
        timeline=[e.model_dump(mode="json") for e in story.entries],
        complete=complete,
    )


class ArchiveWriter:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._finishing: set[asyncio.Task[None]] = set()

    @activity.defn(name=ARCHIVE_ACTIVITY)
    async def write(self, inp: dict[str, str]) -> str:
        """Where the record went (the URL without password), or "" when no archive is set.
        Raises while the archive cannot be reached: the workflow retries with backoff."""
        archive = await asyncio.to_thread(configured)
        if archive is None:
            return ""
        incident_id, run_id = inp["incident_id"], activity.info().workflow_run_id or ""
        handle = self._client.get_workflow_handle_for(
            IncidentWorkflow.run, incident_id, run_id=run_id
        )
        state = await handle.query(IncidentWorkflow.status)
        record = await build(self._client, incident_id, run_id, state, complete=False)
        await asyncio.to_thread(archive.put, record)
        task = asyncio.create_task(self._finish(archive, incident_id, run_id))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        return archive.where

    async def _finish(self, archive: Archive, incident_id: str, run_id: str) -> None:
        """Once the run has completed: the record again, with the whole history and the
        final state (best effort: the record stored by the activity stays otherwise)."""
        try:
            handle = self._client.get_workflow_handle_for(
                IncidentWorkflow.run, incident_id, run_id=run_id
            )
            state = await asyncio.wait_for(
                handle.result(follow_runs=False), FINISH_WAIT.total_seconds()
            )
            record = await build(self._client, incident_id, run_id, state, complete=True)
            await asyncio.to_thread(archive.put, record)
        except Exception as exc:  # logged, never raised: nobody awaits this task
            log.warning("archive: %s stays as stored at close: %s", incident_id, exc)


async def backfill(
    client: Client,
    archive: Archive,
    since: timedelta,
    progress: Callable[[int, int, str], None] = lambda done, total, incident_id: None,
    *,
    again: bool = False,
) -> list[str]:
    """Archive the incidents that closed in the last `since` and that Temporal still has but
    the archive lacks (each chain's closing run not archived yet); the ids archived. Writing
    one again changes nothing (a write is an upsert), so a second backfill archives none.
    `again`: every one of them, archived or not, rebuilt from its histories (a record an
    older version stored takes what this one stores, such as every alert fingerprint)."""
    start = datetime.now(UTC) - since
    query = (
        f"WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Completed'"
        f" AND CloseTime >= '{start.isoformat()}'"
    )
    closed = [(wf.id, wf.run_id) async for wf in client.list_workflows(query)]
    done = (
        set() if again else await asyncio.to_thread(archive.archived_runs, [r for _, r in closed])
    )
    missing = [(i, run) for i, run in closed if run not in done]
    archived: list[str] = []
    for n, (incident_id, run_id) in enumerate(missing, start=1):
        progress(n, len(missing), incident_id)
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id, run_id=run_id)
        try:
            state = await handle.result(follow_runs=False)
            record = await build(client, incident_id, run_id, state, complete=True)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            continue  # gone since the listing (retention)
        await asyncio.to_thread(archive.put, record)
        archived.append(incident_id)
    return archived
