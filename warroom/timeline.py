"""The incident's audited timeline, read from its workflow history and rendered for people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError

from warroom.errors import IncidentNotFound
from warroom.models import (
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


class TimelineEntry(BaseModel):
    time: datetime
    event: str
    step: str | None = None
    actor: str | None = None
    detail: str = ""


async def timeline(client: Client, incident_id: str) -> list[TimelineEntry]:
    """Every event that matters to people, oldest first."""
    return (await _read_history(client, incident_id)).entries


async def activity_steps(client: Client, incident_id: str) -> dict[str, str]:
    """Which step (or `update-N`) each activity id of the incident ran."""
    return (await _read_history(client, incident_id)).step_of_activity


async def recorded_state(client: Client, incident_id: str) -> IncidentState:
    """The incident's last known state, read from its history, for when no worker can answer
    the `status` query (the run was terminated, or its workflow task keeps failing): what it
    was declared with, each step's last recorded outcome, the last status it published."""
    reader = await _read_history(client, incident_id)
    inp = IncidentInput.model_validate(reader.start_input)
    state = IncidentState.declared(incident_id, inp, reader.entries[0].time)
    state.source = "history"
    for step in state.steps:
        step.status = reader.step_status.get(step.id, "pending")
    published = reader.published
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
    reader = _Reader(client)
    try:
        runs = await _runs(client, incident_id)
    except RPCError as exc:
        raise IncidentNotFound(incident_id) from exc
    for events in runs:
        reader.next_run()
        for event in events:
            entry = await reader.read(event)
            if entry is not None:
                reader.entries.append(entry)
    return reader


async def _runs(client: Client, incident_id: str) -> list[list[HistoryEvent]]:
    """The history of each run of the incident, oldest first, each read once: a run's first
    event names the run it continues."""
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = None  # the latest run
    while True:
        handle = client.get_workflow_handle(incident_id, run_id=run_id)
        events = [event async for event in handle.fetch_history_events()]
        runs.append(events)
        started = events[0].workflow_execution_started_event_attributes if events else None
        run_id = started.continued_execution_run_id if started else None
        if not run_id:
            return list(reversed(runs))


#: Activities that notify people (status updates, escalation levels), not runbook steps.
_NOTIFICATIONS = ("update-", "escalation-")


class _Reader:
    """Turns history events into entries, remembering which activity ran which step."""

    def __init__(self, client: Client) -> None:
        self._converter = client.data_converter
        self._steps: dict[int, str] = {}
        self._attempts: dict[int, int] = {}
        self.entries: list[TimelineEntry] = []
        self.step_of_activity: dict[str, str] = {}
        self.start_input: Any = {}
        #: Each step's last recorded outcome, and the last published status and phase.
        self.step_status: dict[str, StepStatus] = {}
        self.published: dict[str, str] = {}

    async def _decode(self, payloads: list[Payload]) -> list[Any]:
        return list(await self._converter.decode(payloads)) if payloads else []

    def next_run(self) -> None:
        """Event ids start again in each run of the incident."""
        self._steps, self._attempts = {}, {}

    async def read(self, event: HistoryEvent) -> TimelineEntry | None:
        t = event.event_type
        now = event.event_time.ToDatetime(tzinfo=UTC)
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return TimelineEntry(
                time=now, event="continued as new", detail="the history went on in a new run"
            )
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs = event.workflow_execution_started_event_attributes
            if attrs.continued_execution_run_id:
                return None  # a later run of the same incident, announced above
            (inp,) = await self._decode(list(attrs.input.payloads)) or [{}]
            self.start_input = inp
            runbook = inp.get("runbook", {})
            severity = inp.get("severity") or runbook.get("severity", "")
            return TimelineEntry(
                time=now,
                event="declared",
                actor=inp.get("declared_by"),
                detail=f"{severity} {runbook.get('title', '')} — {inp.get('summary', '')}",
            )
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs_s = event.activity_task_scheduled_event_attributes
            (inp,) = await self._decode(list(attrs_s.input.payloads)) or [{}]
            step = str(inp.get("step", attrs_s.activity_type.name))
            self.step_of_activity[attrs_s.activity_id] = step
            if step.startswith(_NOTIFICATIONS):
                kind = inp.get("context", {}).get("update", {}).get("kind", "")
                step = f"{step} ({kind})"
            self._steps[event.event_id] = step
            if step.startswith(_NOTIFICATIONS):
                return None  # reported when it completes
            self.step_status[step] = "running"
            return TimelineEntry(
                time=now, event="step started", step=step, detail=attrs_s.activity_type.name
            )
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            self._attempts[started.scheduled_event_id] = started.attempt
            return None
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = event.activity_task_completed_event_attributes.scheduled_event_id
            return self._activity_end(now, sid, "succeeded", "")
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            return self._activity_end(
                now, failed.scheduled_event_id, "failed", failed.failure.message
            )
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed_out = event.activity_task_timed_out_event_attributes
            return self._activity_end(
                now, timed_out.scheduled_event_id, "timed out", timed_out.failure.message
            )
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = event.workflow_execution_signaled_event_attributes
            args = await self._decode(list(signal.input.payloads))
            if signal.signal_name == "alert":
                return _alert_entry(now, args[0] if args else {})
            # A signal is in history even when the workflow ignored it (say, from a
            # non-approver), so it reads as a request, not as a decision.
            return self._human(now, signal.signal_name, args[0] if args else {}, signal=True)
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            args = await self._decode(list(request.input.args.payloads))
            return self._human(now, request.input.name, args[0] if args else {})
        if t == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            changes = []
            for name in ("IncidentStatus", "IncidentPhase"):
                if name in fields.indexed_fields:
                    (value,) = await self._decode([fields.indexed_fields[name]])
                    self.published[name.removeprefix("Incident").lower()] = str(value)
                    changes.append(f"{name.removeprefix('Incident').lower()} → {value}")
            if not changes:
                return None
            return TimelineEntry(time=now, event="state", detail=", ".join(changes))
        if t == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            memo = event.workflow_properties_modified_event_attributes.upserted_memo.fields
            if "event" not in memo:
                return None
            (recorded,) = await self._decode([memo["event"]])
            return TimelineEntry(
                time=now,
                event=str(recorded.get("event", "")),
                step=recorded.get("step"),
                detail=str(recorded.get("detail", "")),
            )
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
                time=now, event="terminated", actor=term.identity or None, detail=term.reason
            )
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            return TimelineEntry(time=now, event="failed", detail=failure.message)
        return None

    def _activity_end(self, now: datetime, sid: int, outcome: str, detail: str) -> TimelineEntry:
        step = self._steps.get(sid, "?")
        attempt = self._attempts.get(sid, 1)
        tries = f"attempt {attempt}" if attempt > 1 or outcome != "succeeded" else ""
        if step.startswith(_NOTIFICATIONS):
            kind, target = step.split("-", 1)
            return TimelineEntry(
                time=now,
                event=f"{'status update' if kind == 'update' else 'escalation notice'} {outcome}",
                detail="; ".join(p for p in (f"target #{target}", tries, detail) if p),
            )
        self.step_status[step] = "succeeded" if outcome == "succeeded" else "failed"
        text = "; ".join(p for p in (tries, detail) if p)
        return TimelineEntry(time=now, event=f"step {outcome}", step=step, detail=text)

    def _human(self, now: datetime, name: str, args: Any, signal: bool = False) -> TimelineEntry:
        message = "signal" if signal else "update"
        model = _PAYLOADS.get(name)
        if model is None:
            return TimelineEntry(time=now, event=f"{name} {message}")
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
        event = f"{name} signal" if signal else _UPDATE_EVENTS.get(name, name)
        detail = next((str(getattr(payload, f)) for f in _DETAILS if getattr(payload, f, "")), "")
        if isinstance(payload, Assign):
            detail = f"{payload.role} → {payload.to}"
        return TimelineEntry(
            time=now,
            event=event,
            step=getattr(payload, "step", None),
            actor=payload.by,
            detail=detail,
        )


#: Which payload field tells what a decision said, in order of preference.
_DETAILS = ("comment", "reason", "text", "severity")

_UPDATE_EVENTS = {
    "approve_step": "approved",
    "reject_step": "rejected",
    "retry_failed_step": "retried",
    "skip_failed_step": "skipped",
    "abort_incident": "aborted",
    "acknowledge_incident": "acknowledged",
    "assign_role": "role assigned",
    "add_note": "note",
    "change_severity": "severity changed",
    "resolve_incident": "resolved",
}


def _alert_entry(now: datetime, args: Any) -> TimelineEntry:
    try:
        alert = Alert.model_validate(args)
    except ValidationError:
        return TimelineEntry(time=now, event="malformed signal ignored", detail="alert")
    name = alert.labels.get("alertname", alert.fingerprint)
    return TimelineEntry(
        time=now,
        event=f"alert {alert.status}",
        actor=alert.source,
        detail=f"{name} ({alert.fingerprint})",
    )
