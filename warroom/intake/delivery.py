"""Alert intake: a normalized notification opens or feeds exactly one incident per alert group.

Every source (Alertmanager, Grafana, generic JSON) is parsed into a `Notification` (one alert
group); `Intake.deliver` sends its alerts in ONE `alerts` signal to the incident whose id derives
from the group alone: with signal-with-start when it carries a firing alert (it opens the
incident unless it is open), else a plain signal (a resolved alert opens nothing). Routing
(`warroom.language.catalogue`) picks the runbook only for the run a notification opens: a group
with an open incident keeps feeding it, whatever its common labels route to now. Incidents that
older versions opened under ids derived from the runbook too (`legacy_incident_id`) are found
once per process, by one listing of the open incidents, and keep their group's notifications. Duplicates are collapsed here, before Temporal:
an alert that Temporal stored moments ago (`RecentlyStored`, per process) is not sent again, and
an alert whose delivery is in flight is waited for rather than sent twice. The workflow still
counts an alert delivered twice once (another API process, or a repeat after the memory forgot
it). `deliver` returns only once Temporal stored every alert (or raises), so a caller
acknowledges nothing unstored.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
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

from warroom.contract.client import task_queue
from warroom.contract.models import SERVICE_MAX_CHARS, SUMMARY_MAX_CHARS, Alert, IncidentInput
from warroom.errors import WarroomError
from warroom.incidents.declare import approvers_of, ui_details, ui_summary
from warroom.incidents.limits import MAX_INPUT_BYTES, check_limits
from warroom.language.catalogue import Catalogue, Route
from warroom.language.runbook import Severity
from workflows.incident import IncidentWorkflow

#: Who declares an incident that an alert opened (per source).
MACHINE_DECLARERS = {"alertmanager": "alertmanager", "grafana": "grafana"}
#: Hex digits of the group hash in an incident id: 64 bits, collisions out of reach.
ID_HASH_HEX = 16
#: The ids of alert groups' incidents: this, then the group's digest.
GROUP_ID_PREFIX = "inc-alert-"
#: An id an older version gave an alert group's incident (`legacy_incident_id`); ids declared
#: by hand end in a time and 10 hex digits, never 16.
LEGACY_ID = re.compile(rf"^inc-(?P<runbook>.+)-(?P<digest>[0-9a-f]{{{ID_HASH_HEX}}})$")
#: The open incidents an Intake looks through once for those of older ids.
OPEN_INCIDENTS = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running'"
#: How long one delivery waits on Temporal before the sender is told to retry (503).
DELIVERY_TIMEOUT = 10.0
#: Most Temporal calls in flight at once from one API process; the rest wait their turn.
DEFAULT_CONCURRENCY = 16
#: Most deliveries waiting for a turn before new ones are answered "busy" (retry later).
DEFAULT_MAX_WAITING = 1000
#: Most bytes of alerts in one signal: half the server's payload limit (a default 1 MiB body
#: always fits in one).
SIGNAL_MAX_BYTES = MAX_INPUT_BYTES // 2
#: Seconds an API process remembers an alert Temporal stored, to answer a repeat (an HA peer's
#: copy, a retry, Alertmanager's next group_interval) without a Temporal call. Alertmanager
#: repeats a notification after hours (`repeat_interval`), far past this.
REMEMBER_FOR = 30.0
#: Most alerts remembered at once (about 200 bytes each).
REMEMBER_MOST = 100_000


class Notification(BaseModel):
    """One alert group as a monitoring system notified it, whatever the source."""

    source: str
    #: What identifies the group across notifications (groupKey, dedup_key, fingerprint).
    group_key: str
    #: The labels the group shares: they pick the runbook and its severity.
    labels: dict[str, str]
    summary: str
    alerts: list[Alert]
    #: Who declares the incident it opens: the sender's identity (its API token's); None:
    #: the source (`alertmanager`, `grafana`, the generic alert's `source`).
    declared_by: str | None = None


class Busy(WarroomError):
    """Too many deliveries are waiting for Temporal: try again later (nothing was stored)."""


Outcome = Literal["opened", "joined", "no_open_incident"]
#: An alert as delivered to one incident: (incident id, the alert's dedup key).
AlertKey = tuple[str, tuple[str, str, str]]


class Delivery(BaseModel):
    """What became of a notification: the incident and how each alert reached it."""

    incident_id: str
    runbook: str
    severity: Severity
    #: "opened" (this notification started the incident), "joined" (it was open already),
    #: "no_open_incident" (only resolved alerts, and no incident of the group is open).
    outcome: Outcome
    #: How many of the notification's alerts this delivery sent to Temporal (in one signal,
    #: unless the notification is huge): 0 when every one was stored moments ago or is on its
    #: way with another delivery. The name is kept for the API's existing callers.
    signals: int
    fallback_reason: str | None = None


def batches(alerts: list[Alert], most_bytes: int = SIGNAL_MAX_BYTES) -> list[list[Alert]]:
    """The alerts in order, in as few signals as fit under `most_bytes` each (one, unless the
    notification is huge)."""
    out: list[list[Alert]] = [[]]
    size = 0
    for alert in alerts:
        n = len(alert.model_dump_json())
        if out[-1] and size + n > most_bytes:
            out.append([])
            size = 0
        out[-1].append(alert)
        size += n
    return out


def group_digest(source: str, group_key: str) -> str:
    """The alert group's hash: the same group from the same source, the same digest."""
    return hashlib.sha256(f"{source}\0{group_key}".encode()).hexdigest()[:ID_HASH_HEX]


def incident_id_for(source: str, group_key: str) -> str:
    """Deterministic: the same group is always the same incident id, whatever runbook its
    notifications route to (Temporal keeps one open incident per id)."""
    return f"{GROUP_ID_PREFIX}{group_digest(source, group_key)}"


def legacy_incident_id(runbook: str, source: str, group_key: str) -> str:
    """The id an older version gave the group's incident: from the runbook and the group."""
    return f"inc-{runbook}-{group_digest(source, group_key)}"


def incident_input(note: Notification, route: Route) -> IncidentInput:
    """What an alert-opened incident is declared with (severity from `severity_from`)."""
    rb = route.runbook
    return IncidentInput(
        runbook=rb,
        summary=note.summary[:SUMMARY_MAX_CHARS],
        severity=rb.severity_for(note.labels),
        declared_by=note.declared_by or MACHINE_DECLARERS.get(note.source, note.source),
        params=route.params,
        approvers=approvers_of(rb, route.entry.teams),
        service=service_label(note.labels),
    )


def service_label(labels: dict[str, str]) -> str | None:
    """The alerts' `service` label, the incident's service when its runbook names none (a
    label too long or not one printable line for a search attribute is left out)."""
    service = labels.get("service", "")
    if 0 < len(service) <= SERVICE_MAX_CHARS and service.isprintable():
        return service
    return None


class RecentlyStored:
    """Keys Temporal stored moments ago, each kept `ttl` seconds from when it was stored (a hit
    does not extend it: a repeat every few seconds still reaches Temporal once per `ttl`), at
    most `size` of them, the oldest forgotten first."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self._clock = ttl, size, clock
        self._until: OrderedDict[AlertKey, float] = OrderedDict()

    def __contains__(self, key: AlertKey) -> bool:
        until = self._until.get(key)
        return until is not None and until > self._clock()

    def add(self, key: AlertKey) -> None:
        if self.ttl <= 0:
            return
        now = self._clock()
        self._until[key] = now + self.ttl
        self._until.move_to_end(key)
        # Kept in the order they expire: forget the expired, then the oldest beyond `size`.
        while self._until and (
            len(self._until) > self.size or next(iter(self._until.values())) <= now
        ):
            self._until.popitem(last=False)


@dataclass
class Intake:
    """Delivers notifications to Temporal with bounded concurrency, one call per notification
    at most, collapsing alerts in flight or stored moments ago."""

    client: Callable[[], Awaitable[Client]]
    catalogue: Catalogue
    concurrency: int = DEFAULT_CONCURRENCY
    max_waiting: int = DEFAULT_MAX_WAITING
    #: Seconds an alert Temporal stored is remembered (0: not at all), and how many at most.
    remember_for: float = REMEMBER_FOR
    remember_most: int = REMEMBER_MOST
    #: Called with the number of alerts not sent, being in flight or stored (for the metrics).
    on_collapsed: Callable[[int], None] = lambda n: None
    _slots: asyncio.Semaphore = field(init=False)
    _waiting: int = field(default=0, init=False)
    _stored: RecentlyStored = field(init=False)
    _inflight: dict[AlertKey, asyncio.Future[bool]] = field(default_factory=dict, init=False)
    #: Open incidents of older ids, by group digest (listed once, at the first delivery).
    _legacy: dict[str, str] | None = field(default=None, init=False)
    _legacy_listing: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)
        self._stored = RecentlyStored(self.remember_for, self.remember_most)

    async def deliver(self, note: Notification) -> Delivery:
        route = self.catalogue.route(note.labels)
        inp = incident_input(note, route)
        digest = group_digest(note.source, note.group_key)
        legacy = (await self._legacy_incidents()).get(digest)
        if legacy is not None:
            delivered = await self._deliver(legacy, note, route, inp, legacy=True)
            if delivered is not None:
                return delivered
            self._legacy_incidents_closed(digest)  # it closed: the group's next one is new
        delivery = await self._deliver(
            incident_id_for(note.source, note.group_key), note, route, inp, legacy=False
        )
        assert delivery is not None
        return delivery

    async def _legacy_incidents(self) -> dict[str, str]:
        """The open incidents that older versions opened under ids from the runbook and the
        group, by group digest: listed once per process (no new ones are opened)."""
        if self._legacy is None:
            async with self._legacy_listing:
                if self._legacy is None:
                    client = await self.client()
                    found: dict[str, str] = {}
                    listing = client.list_workflows(
                        OPEN_INCIDENTS, rpc_timeout=timedelta(seconds=DELIVERY_TIMEOUT)
                    )
                    async for wf in listing:
                        match = LEGACY_ID.match(wf.id)
                        if match and not wf.id.startswith(GROUP_ID_PREFIX):
                            found[match["digest"]] = wf.id
                    self._legacy = found
        return self._legacy

    def _legacy_incidents_closed(self, digest: str) -> None:
        if self._legacy is not None:
            self._legacy.pop(digest, None)

    async def _deliver(
        self,
        incident_id: str,
        note: Notification,
        route: Route,
        inp: IncidentInput,
        *,
        legacy: bool,
    ) -> Delivery | None:
        """Deliver to `incident_id`; None when it is an incident of an older id that closed."""
        # Firing alerts first: the first opens the incident, resolved ones then find it open.
        ordered = sorted(note.alerts, key=lambda a: a.status != "firing")
        mine: dict[AlertKey, Alert] = {}
        theirs: dict[asyncio.Future[bool], None] = {}
        for alert in ordered:
            key = (incident_id, alert.dedup_key)
            if key in mine or key in self._stored:
                continue
            pending = self._inflight.get(key)
            if pending is not None:
                theirs[pending] = None
            else:
                mine[key] = alert
        started, stored = await self._send(incident_id, inp, mine, list(theirs), legacy=legacy)
        if legacy and not stored:
            return None
        self.on_collapsed(len(note.alerts) - len(mine))
        firing = bool(ordered) and ordered[0].status == "firing"
        outcome: Outcome = (
            "opened" if started else "joined" if stored or firing else "no_open_incident"
        )
        return Delivery(
            incident_id=incident_id,
            runbook=route.runbook.name,
            severity=inp.severity or route.runbook.severity,
            outcome=outcome,
            signals=len(mine),
            fallback_reason=route.fallback_reason,
        )

    async def _send(
        self,
        incident_id: str,
        inp: IncidentInput,
        mine: dict[AlertKey, Alert],
        theirs: list[asyncio.Future[bool]],
        *,
        legacy: bool = False,
    ) -> tuple[bool, bool]:
        """Wait for the deliveries of the same alerts already on their way (so this caller too
        answers only once they are stored, or fails with them), then send `mine` in one call;
        callers that want the same alerts meanwhile wait for this one. Returns whether this
        call opened the incident, and whether every alert reached an incident."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        for key in mine:
            self._inflight[key] = future
        try:
            # Theirs first: a resolved alert of mine must not reach the incident before the
            # firing one of theirs that opens it.
            waited = await asyncio.gather(*(asyncio.shield(f) for f in theirs))
            started, sent = await self._call(incident_id, inp, list(mine.values()), legacy)
        except asyncio.CancelledError:
            future.set_exception(TimeoutError("the same alert's delivery was interrupted"))
            future.exception()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a future nobody else awaits must not warn
            raise
        else:
            future.set_result(sent)
            if sent:  # only what Temporal accepted is remembered
                for key in mine:
                    self._stored.add(key)
            return started, sent and all(waited)
        finally:
            for key in mine:
                del self._inflight[key]

    async def _call(
        self, incident_id: str, inp: IncidentInput, alerts: list[Alert], legacy: bool = False
    ) -> tuple[bool, bool]:
        """One Temporal call for `alerts` (firing first): signal-with-start when one fires, else
        a plain signal (always, to an incident of an older id: a closed one stays closed).
        Whether it opened the incident, and whether the alerts reached one."""
        if not alerts:
            return False, True
        client = await self.client()
        await check_limits(client, incident_id, inp)
        first, *rest = batches(alerts)
        if first[0].status == "firing" and not legacy:
            started = await self._bounded(lambda: self._start(client, incident_id, inp, first))
            sent = True
        else:
            started, sent = (
                False,
                await self._bounded(lambda: self._signal(client, incident_id, first)),
            )
        for more in rest:  # a notification too large for one signal (a raised --max-body)
            sent = await self._bounded(partial(self._signal, client, incident_id, more)) and sent
        return started, sent

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
        self, client: Client, incident_id: str, inp: IncidentInput, alerts: list[Alert]
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
            signal_name="alerts",
            signal_input=Payloads(payloads=await encode([alerts])),
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

    async def _signal(self, client: Client, incident_id: str, alerts: list[Alert]) -> bool:
        """Signal the group's open incident; False when none is open (nothing to tell)."""
        try:
            await client.get_workflow_handle(incident_id).signal(IncidentWorkflow.alerts, alerts)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False  # never opened, or closed: a resolved alert opens nothing
            raise
        return True
