"""Alert intake: a normalized notification opens or feeds exactly one incident per alert group.

Every source (Alertmanager, Grafana, generic JSON) is parsed into a `Notification` (one alert
group); `Intake.deliver` routes it to a runbook (`warroom.routing`) and sends each alert as an
`alert` signal to the incident whose id derives from the runbook and the group, the first one
with signal-with-start. The workflow counts a notification delivered twice once; concurrent
identical deliveries are collapsed here before they become signals. `deliver` returns only
once Temporal has stored every signal (or raises), so a caller acknowledges nothing unstored.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads, WorkflowType
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy as ConflictPolicy
from temporalio.api.enums.v1 import WorkflowIdReusePolicy as ReusePolicy
from temporalio.api.sdk.v1 import UserMetadata
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import SignalWithStartWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from warroom.client import task_queue
from warroom.errors import WarroomError
from warroom.incidents import _check_limits, approvers_of, ui_details, ui_summary
from warroom.language.runbook import Severity
from warroom.models import SUMMARY_MAX_CHARS, Alert, IncidentInput
from warroom.routing import Catalogue, Route
from workflows.incident import IncidentWorkflow

#: Who declares an incident that an alert opened (per source).
MACHINE_DECLARERS = {"alertmanager": "alertmanager", "grafana": "grafana"}
#: Hex digits of the group hash in an incident id: 64 bits, collisions out of reach.
ID_HASH_HEX = 16
#: How long one delivery waits on Temporal before the sender is told to retry (503).
DELIVERY_TIMEOUT = 10.0
#: Most Temporal calls in flight at once from one API process; the rest wait their turn.
DEFAULT_CONCURRENCY = 16
#: Most deliveries waiting for a turn before new ones are answered "busy" (retry later).
DEFAULT_MAX_WAITING = 1000


class Notification(BaseModel):
    """One alert group as a monitoring system notified it, whatever the source."""

    source: str
    #: What identifies the group across notifications (groupKey, dedup_key, fingerprint).
    group_key: str
    #: The labels the group shares: they pick the runbook and its severity.
    labels: dict[str, str]
    summary: str
    alerts: list[Alert]


class Busy(WarroomError):
    """Too many deliveries are waiting for Temporal: try again later (nothing was stored)."""


Outcome = Literal["opened", "joined", "no_open_incident"]


class Delivery(BaseModel):
    """What became of a notification: the incident and how each alert reached it."""

    incident_id: str
    runbook: str
    severity: Severity
    #: "opened" (this notification started the incident), "joined" (it was open already),
    #: "no_open_incident" (only resolved alerts, and no incident of the group is open).
    outcome: Outcome
    signals: int
    fallback_reason: str | None = None


def incident_id_for(runbook: str, source: str, group_key: str) -> str:
    """Deterministic: the same group on the same runbook is always the same incident id."""
    digest = hashlib.sha256(f"{source}\0{group_key}".encode()).hexdigest()[:ID_HASH_HEX]
    return f"inc-{runbook}-{digest}"


def incident_input(note: Notification, route: Route) -> IncidentInput:
    """What an alert-opened incident is declared with (severity from `severity_from`)."""
    rb = route.runbook
    return IncidentInput(
        runbook=rb,
        summary=note.summary[:SUMMARY_MAX_CHARS],
        severity=rb.severity_for(note.labels),
        declared_by=MACHINE_DECLARERS.get(note.source, note.source),
        params=route.params,
        approvers=approvers_of(rb, route.entry.teams),
    )


@dataclass
class Intake:
    """Delivers notifications to Temporal with bounded concurrency and in-flight collapsing."""

    client: Callable[[], Awaitable[Client]]
    catalogue: Catalogue
    concurrency: int = DEFAULT_CONCURRENCY
    max_waiting: int = DEFAULT_MAX_WAITING
    #: Called with the number of duplicate signals collapsed (for the metrics).
    on_collapsed: Callable[[int], None] = lambda n: None
    _slots: asyncio.Semaphore = field(init=False)
    _waiting: int = field(default=0, init=False)
    _inflight: dict[tuple[str, tuple[str, str, str]], asyncio.Future[bool]] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    async def deliver(self, note: Notification) -> Delivery:
        route = self.catalogue.route(note.labels)
        inp = incident_input(note, route)
        incident_id = incident_id_for(route.runbook.name, note.source, note.group_key)
        client = await self.client()
        await _check_limits(client, incident_id, inp)
        firing = [a for a in note.alerts if a.status == "firing"]
        resolved = [a for a in note.alerts if a.status == "resolved"]
        outcome: Outcome = "joined"
        if firing:
            # The first firing alert opens the incident unless it is open; the rest join it.
            started, collapsed = await self._once(
                incident_id, firing[0], lambda: self._start(client, incident_id, inp, firing[0])
            )
            outcome = "opened" if started and not collapsed else "joined"

        async def join(alert: Alert) -> bool:
            stored, _ = await self._once(
                incident_id, alert, lambda: self._signal(client, incident_id, alert)
            )
            return stored

        delivered = await asyncio.gather(*(join(a) for a in [*firing[1:], *resolved]))
        if not firing and not all(delivered):
            outcome = "no_open_incident"
        return Delivery(
            incident_id=incident_id,
            runbook=route.runbook.name,
            severity=inp.severity or route.runbook.severity,
            outcome=outcome,
            signals=len(note.alerts),
            fallback_reason=route.fallback_reason,
        )

    async def _once(
        self, incident_id: str, alert: Alert, send: Callable[[], Awaitable[bool]]
    ) -> tuple[bool, bool]:
        """Send unless the very same notification is on its way already: then wait for that
        one (so this caller too answers only once it is stored, or fails with it). Returns
        what `send` returned, and whether this call was collapsed into another."""
        key = (incident_id, alert.dedup_key)
        pending = self._inflight.get(key)
        if pending is not None:
            self.on_collapsed(1)
            return await asyncio.shield(pending), True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._bounded(send)
        except asyncio.CancelledError:
            future.set_exception(TimeoutError("the same alert's delivery was interrupted"))
            future.exception()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a future nobody else awaits must not warn
            raise
        else:
            future.set_result(result)
            return result, False
        finally:
            del self._inflight[key]

    async def _bounded(self, call: Callable[[], Awaitable[bool]]) -> bool:
        if self._waiting >= self.max_waiting:
            raise Busy(f"{self._waiting} alert deliveries are waiting for Temporal: retry later")
        self._waiting += 1
        try:
            async with self._slots:
                return await call()
        finally:
            self._waiting -= 1

    async def _start(
        self, client: Client, incident_id: str, inp: IncidentInput, alert: Alert
    ) -> bool:
        """Signal-with-start: True when this opened a new incident (run), False when it joined.

        The raw call, because only its response says whether it started a run (the SDK's
        `start_workflow(start_signal=...)` handle does not).
        """
        encode = client.data_converter.encode
        summary, details = await encode([ui_summary(inp), ui_details(inp)])
        request = SignalWithStartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=incident_id,
            workflow_type=WorkflowType(name=IncidentWorkflow.__name__),
            task_queue=TaskQueue(name=task_queue()),
            input=Payloads(payloads=await encode([inp])),
            signal_name="alert",
            signal_input=Payloads(payloads=await encode([alert])),
            identity=client.identity,
            request_id=str(uuid.uuid4()),
            # A running incident of the group gets the signal; a closed one stays closed and
            # the alert opens a new run under the same id.
            workflow_id_conflict_policy=ConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
            workflow_id_reuse_policy=ReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
            user_metadata=UserMetadata(summary=summary, details=details),
        )
        response = await client.workflow_service.signal_with_start_workflow_execution(
            request, retry=True, timeout=timedelta(seconds=DELIVERY_TIMEOUT)
        )
        return bool(response.started)

    async def _signal(self, client: Client, incident_id: str, alert: Alert) -> bool:
        """Signal the group's open incident; False when none is open (nothing to tell)."""
        try:
            await client.get_workflow_handle(incident_id).signal("alert", alert)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False  # never opened, or closed: a resolved alert opens nothing
            raise
        return True
