"""The incident's audited timeline, read from its workflow history and rendered for people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from warroom.contract.chat import ROOM_PREFIX
from warroom.contract.closing import ARCHIVE_ACTIVITY, POSTMORTEM_ACTIVITY
from warroom.contract.codec import key_id_of
from warroom.contract.converter import plain_failure
from warroom.contract.models import (
    ALERTS_PER_SIGNAL,
    Abort,
    Acknowledge,
    Alert,
    Assign,
    Decision,
    HumanDecision,
    IncidentInput,
    IncidentState,
    Note,
    Resolve,
    SetSeverity,
    StepCommand,
    StepStatus,
)
from warroom.errors import IncidentNotFound
from warroom.record.archived import archived, archived_runs

#: The payload model of every human decision, by signal and by update name: what a
#: well-formed one looks like, so that a malformed one reads as such instead of failing.
_PAYLOADS: dict[str, type[HumanDecision]] = {
    "approve": Decision,
    "reject": Decision,
    "approve_step": Decision,
    "reject_step": Decision,
    "retry_step": StepCommand,
    "skip_step": StepCommand,
    "retry_failed_step": StepCommand,
    "skip_failed_step": StepCommand,
    "abort": Abort,
    "abort_incident": Abort,
    "acknowledge": Acknowledge,
    "acknowledge_incident": Acknowledge,
    "assign": Assign,
    "assign_role": Assign,
    "note": Note,
    "add_note": Note,
    "set_severity": SetSeverity,
    "change_severity": SetSeverity,
    "resolve": Resolve,
    "resolve_incident": Resolve,
}


Source = Literal["person", "automation", "alert"]

#: The patch marker a run writes in its first task when it records refused signals (and the
#: other timeline records): without it, a signal may have been refused without a trace.
TIMELINE_PATCH = "timeline-records"
#: The workflow's own last acts, told when they end rather than as steps.
_CLOSING_ACTIVITIES = (POSTMORTEM_ACTIVITY, ARCHIVE_ACTIVITY)
#: The incident room's Slack calls (workflows/chat_room.py): not steps; the workflow's own
#: records tell the room ("chat room opened", "chat room stopped: …").
_ROOM_ACTIVITIES = ROOM_PREFIX


class TimelineEntry(BaseModel):
    """One thing that happened in the incident. Field names are stable (the JSON output)."""

    time: datetime
    #: Seconds since the incident was declared.
    elapsed: float = 0.0
    #: What happened: "declared", "step failed", "approved", "status update posted", ...
    event: str
    step: str | None = None
    phase: str | None = None
    actor: str | None = None
    #: How the actor was authenticated (`oidc`, `token:<name>`, `slack`, ...), when recorded.
    authenticated: str | None = None
    #: Who did it: a person, the runbook's automation, or an alert.
    source: Source = "automation"
    #: One line that says what happened.
    detail: str = ""
    #: Which run of the workflow (1 = the first; a long incident continues as new).
    run: int = 1
    attempt: int | None = None
    error: str | None = None


async def timeline(client: Client, incident_id: str) -> list[TimelineEntry]:
    """Every event that matters to people, oldest first."""
    return (await _read_history(client, incident_id)).entries


class Story(BaseModel):
    """An incident as its history tells it: what it was declared with, and its timeline."""

    incident_id: str
    declared: IncidentInput
    entries: list[TimelineEntry]
    #: Which step (or `update-N`) each activity id of the incident ran.
    activity_steps: dict[str, str] = {}
    #: Each step's last recorded outcome, and the last status and phase the workflow published.
    step_status: dict[str, StepStatus] = {}
    published: dict[str, str] = {}
    #: Each run's payload key id, first run first (None: that run's payloads are plain).
    run_keys: list[str | None] = []


async def story(client: Client, incident_id: str) -> Story:
    return told(incident_id, await _read_history(client, incident_id))


def told(incident_id: str, reader: _Reader) -> Story:
    """The story the histories `reader` read tell."""
    return Story(
        incident_id=incident_id,
        declared=IncidentInput.model_validate(reader.start_input),
        entries=reader.entries,
        activity_steps=reader.step_of_activity,
        step_status=reader.step_status,
        published=reader.published,
        run_keys=reader.run_keys,
    )


async def follow(client: Client, incident_id: str) -> AsyncIterator[TimelineEntry]:
    """The timeline so far, then each new entry as it happens (a long poll on the history),
    across continued runs, until the incident ends."""
    reader = _Reader(client)
    try:
        latest = (await client.get_workflow_handle(incident_id).describe()).run_id
        runs = await _runs(client, incident_id, latest)
    except RPCError as exc:
        record = await archived(incident_id) if exc.status == RPCStatusCode.NOT_FOUND else None
        if record is None:
            raise IncidentNotFound(incident_id) from exc
        for entry in (await read_runs(client, archived_runs(record))).entries:
            yield entry  # closed long ago: nothing more will happen
        return
    run_id: str | None = latest
    for number, events in enumerate(runs, start=1):
        reader.next_run()
        for event in events:
            await reader.read(event)
        if number < len(runs):
            for entry in reader.release():
                yield entry
    seen = runs[-1][-1].event_id if runs[-1] else 0
    while run_id:
        for entry in reader.release():
            yield entry
        handle = client.get_workflow_handle(incident_id, run_id=run_id)
        run_id = None
        async for event in handle.fetch_history_events(wait_new_event=True):
            if event.event_id <= seen:
                continue
            await reader.read(event)
            for entry in reader.release(settled_only=True):
                yield entry
            moved = event.workflow_execution_continued_as_new_event_attributes
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                run_id, seen = moved.new_execution_run_id, 0
                reader.next_run()
    for entry in reader.release():
        yield entry


def recorded_state(told: Story) -> IncidentState:
    """The incident's last known state, as its history tells it, for when no worker can answer
    the `status` query (the run was terminated, or its workflow task keeps failing): what it
    was declared with, each step's last recorded outcome, the last status it published."""
    state = IncidentState.declared(told.incident_id, told.declared, told.entries[0].time)
    state.source = "history"
    for step in state.steps:
        step.status = told.step_status.get(step.id, "pending")
    published = told.published
    state.phase = published.get("phase", state.phase)  # type: ignore[assignment]
    state.status = published.get("status", state.status)  # type: ignore[assignment]
    if state.status == "awaiting_approval":
        # The gate that was open is the first approval step that had not started.
        gate = next((s for s in state.steps if s.approvers and s.status == "pending"), None)
        if gate is not None:
            gate.status = "awaiting_approval"
    return state


async def _read_history(client: Client, incident_id: str) -> _Reader:
    """Every run of the incident, oldest first: a long incident continues as new, and its
    timeline goes on across the runs."""
    try:
        runs = await _runs(client, incident_id)
    except RPCError as exc:
        # Temporal's retention deleted it: the archive has the same histories.
        record = await archived(incident_id) if exc.status == RPCStatusCode.NOT_FOUND else None
        if record is None:
            raise IncidentNotFound(incident_id) from exc
        runs = archived_runs(record)
    return await read_runs(client, runs)


async def read_runs(client: Client, runs: list[list[HistoryEvent]]) -> _Reader:
    """The entries and what else the histories of an incident's runs tell, oldest run first."""
    reader = _Reader(client)
    entries: list[TimelineEntry] = []
    for events in runs:
        reader.next_run()
        for event in events:
            await reader.read(event)
            # Settled entries leave the queue at once: each task event walks the queue, so a
            # queue of the whole history made reading a long incident quadratic.
            entries += reader.release(settled_only=True)
    reader.entries = entries + reader.release()
    return reader


async def _runs(
    client: Client, incident_id: str, latest: str | None = None
) -> list[list[HistoryEvent]]:
    """The history of each run of the incident's latest chain, oldest first."""
    return [events for _, events in await chain(client, incident_id, latest)]


async def chain(
    client: Client, incident_id: str, latest: str | None = None
) -> list[tuple[str, list[HistoryEvent]]]:
    """Each run of the incident's latest chain (or the chain ending at run `latest`) with its
    history, oldest first, each read once: a run's first event names the run it continues. An
    earlier incident that reused the id (an alert after it closed) is not part of the chain.
    The latest run's id is "" when `latest` is not given."""
    runs: list[tuple[str, list[HistoryEvent]]] = []
    run_id = latest
    while True:
        handle = client.get_workflow_handle(incident_id, run_id=run_id)
        events = [event async for event in handle.fetch_history_events()]
        runs.append((run_id or "", events))
        started = events[0].workflow_execution_started_event_attributes if events else None
        run_id = started.continued_execution_run_id if started else None
        if not run_id:
            return list(reversed(runs))


#: Activities that notify people (status updates, escalation levels) and undo steps
#: (compensations, told by the workflow's own records), not runbook steps.
_NOTIFICATIONS = ("update-", "escalation-")
#: Activities the workflow's own records tell (compensations; pages through an on-call
#: policy, "paged"), not runbook steps.
_TOLD_BY_RECORDS = ("compensate-", "page-")
#: The `alerts` signal's payload, validated as the workflow decodes it.
_ALERTS = TypeAdapter(list[Alert])
#: Events that start a new workflow task: any decision held back until the task that
#: handled it was complete (a refusal is recorded in that task) is settled by then.
_TASK_EVENTS = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
)


class _Held:
    """An entry on its way out; a signalled decision waits for the task that handles it."""

    def __init__(self, entry: TimelineEntry, kind: str | None = None) -> None:
        self.entry, self.kind = entry, kind
        self.settled = kind is None
        self.handled = False  # a workflow task started after the signal
        self.completed = False  # ... and completed: its refusal record, if any, is in


class _Reader:
    """Turns history events into entries, remembering which activity ran which step."""

    def __init__(self, client: Client) -> None:
        self._converter = client.data_converter
        self._steps: dict[int, str] = {}
        self._attempts: dict[int, tuple[int, str]] = {}
        self._queue: list[_Held] = []
        self._run = 0
        self._tells = False
        self._tasks_done = 0
        self._declared: TimelineEntry | None = None
        self._fingerprints: dict[str, str] = {}
        self._dedup: set[tuple[str, str, str]] = set()
        self._phases: dict[str, str] = {}
        self.entries: list[TimelineEntry] = []
        self.step_of_activity: dict[str, str] = {}
        self.start_input: Any = {}
        #: Each step's last recorded outcome, and the last published status and phase.
        self.step_status: dict[str, StepStatus] = {}
        self.published: dict[str, str] = {}
        self.run_keys: list[str | None] = []

    async def _decode(self, payloads: list[Payload]) -> list[Any]:
        return list(await self._converter.decode(payloads)) if payloads else []

    async def _plain(self, failure: Failure) -> Failure:
        return await plain_failure(self._converter, failure)

    @property
    def fingerprints(self) -> list[str]:
        """Every alert fingerprint that joined, in the runs read so far (an incident's state
        keeps the labels of only some: see ALERTS_KEPT_FIRST)."""
        return list(self._fingerprints)

    def next_run(self) -> None:
        """Event ids start again in each run of the incident."""
        self._steps, self._attempts = {}, {}
        self._run += 1
        self._tells, self._tasks_done = False, 0

    def release(self, settled_only: bool = False) -> list[TimelineEntry]:
        """The entries ready to show, oldest first (all of them unless `settled_only`)."""
        out: list[TimelineEntry] = []
        while self._queue and (self._queue[0].settled or not settled_only):
            out.append(self._queue.pop(0).entry)
        return out

    def _add(self, entry: TimelineEntry | None, kind: str | None = None) -> None:
        if entry is None:
            return
        entry.run = self._run
        if entry.phase is None:
            entry.phase = self._phases.get(entry.step or "") or self.published.get("phase")
        if self._declared is not None:
            entry.elapsed = (entry.time - self._declared.time).total_seconds()
        self._queue.append(_Held(entry, kind))

    async def read(self, event: HistoryEvent) -> None:
        t = event.event_type
        if t in _TASK_EVENTS:
            for held in self._queue:
                if held.completed:
                    held.settled = True
                if t == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                    held.handled = True
        elif t == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            self._tasks_done += 1
            for held in self._queue:
                held.completed = held.handled
        elif t == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_patch" and "patch-data" in marker.details:
                (data,) = await self._decode(list(marker.details["patch-data"].payloads))
                self._tells = self._tells or data.get("id") == TIMELINE_PATCH
        else:
            self._add(await self._entry(event, event.event_time.ToDatetime(tzinfo=UTC)))

    async def _entry(self, event: HistoryEvent, now: datetime) -> TimelineEntry | None:
        t = event.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return TimelineEntry(
                time=now, event="continued as new", detail="the history went on in a new run"
            )
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs = event.workflow_execution_started_event_attributes
            self.run_keys.append(
                key_id_of(attrs.input.payloads[0]) if attrs.input.payloads else None
            )
            if attrs.continued_execution_run_id:
                return None  # a later run of the same incident, announced above
            (inp,) = await self._decode(list(attrs.input.payloads)) or [{}]
            self.start_input = inp
            runbook = inp.get("runbook", {})
            self._phases = {s.get("id"): s.get("phase") for s in runbook.get("steps", [])}
            severity = inp.get("severity") or runbook.get("severity", "")
            self._declared = TimelineEntry(
                time=now,
                event="declared",
                actor=inp.get("declared_by"),
                source="person",
                phase="triage",
                detail=f"{severity} {runbook.get('title', '')} — {inp.get('summary', '')}",
            )
            return self._declared
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs_s = event.activity_task_scheduled_event_attributes
            kind = attrs_s.activity_type.name
            if kind in _CLOSING_ACTIVITIES or kind.startswith(_ROOM_ACTIVITIES):
                self._steps[event.event_id] = kind
                return None  # told when it is written, or by the workflow's own record
            (inp,) = await self._decode(list(attrs_s.input.payloads)) or [{}]
            step = str(inp.get("step", kind))
            self.step_of_activity[attrs_s.activity_id] = step
            if step.startswith(_NOTIFICATIONS):
                step = f"{step} ({inp.get('context', {}).get('update', {}).get('kind', '')})"
            self._steps[event.event_id] = step
            if step.startswith((*_NOTIFICATIONS, *_TOLD_BY_RECORDS)):
                return None  # told when it ends, or by the workflow's own record
            self.step_status[step] = "running"
            return TimelineEntry(time=now, event="step started", step=step, detail=kind)
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            last = (
                (await self._plain(started.last_failure)).message
                if started.HasField("last_failure")
                else ""
            )
            self._attempts[started.scheduled_event_id] = (started.attempt, last)
            return None
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if self._steps.get(done.scheduled_event_id) == POSTMORTEM_ACTIVITY:
                (path,) = await self._decode(list(done.result.payloads)) or [""]
                return TimelineEntry(
                    time=now,
                    event="postmortem written",
                    detail=f"draft at {path}" if path else "no WARROOM_POSTMORTEM_DIR: not kept",
                )
            if self._steps.get(done.scheduled_event_id) == ARCHIVE_ACTIVITY:
                (where,) = await self._decode(list(done.result.payloads)) or [""]
                return TimelineEntry(
                    time=now,
                    event="record archived",
                    detail=f"in {where}" if where else "no WARROOM_ARCHIVE_URL: not kept",
                )
            return self._activity_end(now, done.scheduled_event_id, "succeeded", "")
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            error = _error(await self._plain(failed.failure))
            return self._activity_end(now, failed.scheduled_event_id, "failed", error)
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed_out = event.activity_task_timed_out_event_attributes
            error = _error(await self._plain(timed_out.failure))
            return self._activity_end(now, timed_out.scheduled_event_id, "timed out", error)
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
            cancel = event.activity_task_cancel_requested_event_attributes
            return self._cancelled(now, self._steps.get(cancel.scheduled_event_id, "?"))
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = event.workflow_execution_signaled_event_attributes
            args = await self._decode(list(signal.input.payloads))
            if signal.signal_name == "alert":
                return self._alert_entry(now, args[0] if args else {})
            if signal.signal_name == "alerts":  # a notification's alerts: an entry for each
                for entry in self._alert_entries(now, args[0] if args else None):
                    self._add(entry)
                return None
            entry = self._human(now, signal.signal_name, args[0] if args else {}, signal=True)
            if entry.source == "person" and self._tells:
                # Applied unless the task that handles it records a refusal: held till then.
                self._add(entry, kind=signal.signal_name)
                return None
            return entry
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            args = await self._decode(list(request.input.args.payloads))
            return self._human(now, request.input.name, args[0] if args else {})
        if t == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            changes = []
            for name in ("IncidentStatus", "IncidentPhase", "IncidentSeverity"):
                if name in fields.indexed_fields:
                    (value,) = await self._decode([fields.indexed_fields[name]])
                    key = name.removeprefix("Incident").lower()
                    if key == "severity" and key not in self.published:
                        self.published[key] = str(value)
                        continue  # the declared severity, not a change
                    if self.published.get(key) != str(value):
                        changes.append(f"{key} → {value}")
                    self.published[key] = str(value)
                    if key == "status" and value == "mitigated" and not self._tells:
                        changes.append("mitigated")  # older runs do not record it
            if not changes:
                return None
            return TimelineEntry(time=now, event="state", detail=", ".join(changes))
        if t == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            memo = event.workflow_properties_modified_event_attributes.upserted_memo.fields
            if "event" not in memo:
                return None
            (recorded,) = await self._decode([memo["event"]])
            return self._recorded(now, recorded)
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result = event.workflow_execution_completed_event_attributes.result
            (state,) = await self._decode(list(result.payloads)) or [{}]
            return TimelineEntry(
                time=now,
                event=f"closed: {state.get('status', 'done')}",
                detail=str(state.get("outcome") or ""),
            )
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            term = event.workflow_execution_terminated_event_attributes
            return TimelineEntry(
                time=now,
                event="terminated",
                actor=term.identity or None,
                source="person",
                detail=term.reason,
            )
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            return TimelineEntry(
                time=now, event="failed", detail=(await self._plain(failure)).message
            )
        return None

    def _recorded(self, now: datetime, recorded: dict[str, Any]) -> TimelineEntry | None:
        """A record the workflow wrote itself (see `IncidentWorkflow._record`)."""
        event, step = str(recorded.get("event", "")), recorded.get("step")
        detail, actor = str(recorded.get("detail", "")), recorded.get("actor")
        if event.endswith(" refused"):
            kind = event.removesuffix(" refused")
            held = next(
                (
                    h
                    for h in reversed(self._queue)
                    if h.kind
                    and _KINDS.get(h.kind) == kind
                    and h.entry.actor == actor
                    and h.entry.step == step
                    and not h.entry.event.endswith("refused")
                ),
                None,
            )
            if held is not None:  # the signal it answers: it changed nothing
                held.entry.event, held.entry.detail = event, detail
                held.settled = True
                return None
            return TimelineEntry(
                time=now, event=event, step=step, actor=actor, source="person", detail=detail
            )
        if event == "alert re-fired":
            return None  # told by the alert itself
        if event.startswith("skipped") and step:
            self.step_status[step] = "skipped"
        if event == "compensated" and step:
            self.step_status[step] = "compensated"
        return TimelineEntry(time=now, event=event, step=step, detail=detail)

    def _cancelled(self, now: datetime, step: str) -> TimelineEntry | None:
        """A step's activity cut short: the incident was aborted or resolved while it ran
        (whatever the activity reports afterwards changes nothing)."""
        if (
            step.startswith((*_NOTIFICATIONS, *_TOLD_BY_RECORDS, _ROOM_ACTIVITIES))
            or step in _CLOSING_ACTIVITIES
        ):
            return None
        self.step_status[step] = "cancelled"
        return TimelineEntry(
            time=now, event="step cancelled", step=step, detail="the incident ended while it ran"
        )

    def _activity_end(
        self, now: datetime, sid: int, outcome: str, error: str
    ) -> TimelineEntry | None:
        step = self._steps.get(sid, "?")
        attempt, last = self._attempts.get(sid, (1, ""))
        if step.startswith((*_TOLD_BY_RECORDS, _ROOM_ACTIVITIES)):
            return None  # the workflow records "compensated" / "compensation failed" / the room
        if step == POSTMORTEM_ACTIVITY:
            return TimelineEntry(time=now, event="postmortem not written", detail=error)
        if step == ARCHIVE_ACTIVITY:
            return TimelineEntry(time=now, event="record not archived", detail=error)
        tries = f"attempt {attempt}" if attempt > 1 or outcome != "succeeded" else ""
        if outcome == "succeeded" and attempt > 1 and last:
            tries += f", after: {last}"
        if step.startswith(_NOTIFICATIONS):
            kind, target = step.split("-", 1)
            what = "status update" if kind == "update" else "escalation notice"
            return TimelineEntry(
                time=now,
                event=f"{what} {'posted' if outcome == 'succeeded' else 'failed'}",
                detail="; ".join(p for p in (f"target #{target}", tries, error) if p),
                attempt=attempt,
                error=error or None,
            )
        self.step_status[step] = "succeeded" if outcome == "succeeded" else "failed"
        return TimelineEntry(
            time=now,
            event=f"step {outcome}",
            step=step,
            detail="; ".join(p for p in (tries, error) if p),
            attempt=attempt,
            error=error or None,
        )

    def _human(self, now: datetime, name: str, args: Any, signal: bool = False) -> TimelineEntry:
        message = "signal" if signal else "update"
        model = _PAYLOADS.get(name)
        if model is None:
            return TimelineEntry(time=now, event=f"{name} {message}", source="person")
        try:
            payload = model.model_validate(args)
        except ValidationError as exc:
            # Sent with the plain Temporal CLI, say; the workflow dropped it, so do we.
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                for e in exc.errors()
            )
            return TimelineEntry(
                time=now, event=f"malformed {message} ignored", detail=f"{name}: {problems}"
            )
        # An older run's signal may have been refused without a trace: it reads as a request.
        event = f"{name} signal" if signal and not self._tells else _EVENTS[_KINDS[name]]
        detail = next((str(getattr(payload, f)) for f in _DETAILS if getattr(payload, f, "")), "")
        if isinstance(payload, Assign):
            detail = f"{payload.role} → {payload.to}"
        return TimelineEntry(
            time=now,
            event=event,
            step=getattr(payload, "step", None),
            actor=payload.by,
            authenticated=payload.authenticated,
            source="person",
            detail=detail,
        )

    def _alert_entry(self, now: datetime, args: Any) -> TimelineEntry:
        try:
            alert = Alert.model_validate(args)
        except ValidationError:
            return TimelineEntry(time=now, event="malformed signal ignored", detail="alert")
        return self._alert_told(now, alert)

    def _alert_entries(self, now: datetime, args: Any) -> list[TimelineEntry]:
        """As the workflow applies the `alerts` signal: alert by alert, or not at all."""
        try:
            alerts = _ALERTS.validate_python(args)
        except ValidationError:
            alerts = None
        if alerts is None or len(alerts) > ALERTS_PER_SIGNAL:
            return [TimelineEntry(time=now, event="malformed signal ignored", detail="alerts")]
        return [self._alert_told(now, alert) for alert in alerts]

    def _alert_told(self, now: datetime, alert: Alert) -> TimelineEntry:
        name = alert.labels.get("alertname", alert.fingerprint)
        before = self._fingerprints.get(alert.fingerprint)
        if alert.dedup_key in self._dedup or before == alert.status:
            event = "alert repeated"
        elif alert.status == "resolved":
            event = "alert resolved"
        else:
            event = "alert re-fired" if before else "alert received"
        self._dedup.add(alert.dedup_key)
        self._fingerprints[alert.fingerprint] = alert.status
        declared = self._declared
        opening = self._tasks_done == 0 and self._run == 1
        if declared is not None and declared.source != "alert" and opening:
            # Signal-with-start: the (first) alert opened the incident.
            declared.source = "alert"
            declared.detail += f" (alert {name})"
        return TimelineEntry(
            time=now,
            event=event,
            actor=alert.source,
            source="alert",
            detail=f"{name} ({alert.fingerprint})",
        )


def _error(failure: Failure) -> str:
    """`type: message` of a failed attempt, as the workflow says it."""
    while failure.HasField("cause") and not failure.HasField("application_failure_info"):
        failure = failure.cause
    kind = (
        failure.application_failure_info.type
        if failure.HasField("application_failure_info")
        else ""
    )
    return f"{kind}: {failure.message}" if kind else failure.message


#: Which payload field tells what a decision said, in order of preference.
_DETAILS = ("comment", "reason", "text", "severity")

#: Each decision's kind by signal and update name, and the timeline event it makes.
_KINDS = {
    "approve": "approve", "approve_step": "approve",
    "reject": "reject", "reject_step": "reject",
    "retry_step": "retry", "retry_failed_step": "retry",
    "skip_step": "skip", "skip_failed_step": "skip",
    "abort": "abort", "abort_incident": "abort",
    "acknowledge": "acknowledge", "acknowledge_incident": "acknowledge",
    "assign": "assign", "assign_role": "assign",
    "note": "note", "add_note": "note",
    "set_severity": "severity", "change_severity": "severity",
    "resolve": "resolve", "resolve_incident": "resolve",
}  # fmt: skip
_EVENTS = {
    "approve": "approved",
    "reject": "rejected",
    "retry": "retried",
    "skip": "skipped",
    "abort": "aborted",
    "acknowledge": "acknowledged",
    "assign": "role assigned",
    "note": "note",
    "severity": "severity changed",
    "resolve": "resolved",
}
