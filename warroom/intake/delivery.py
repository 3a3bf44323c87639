"""Alert intake: a normalized notification opens or feeds exactly one incident per alert group.

Every source (Alertmanager, Grafana, generic JSON) is parsed into a `Notification` (one alert
group); `Intake.deliver` routes it to a runbook (`warroom.language.catalogue`) and sends its alerts in ONE
`alerts` signal to the incident whose id derives from the runbook and the group: with
signal-with-start when it carries a firing alert (it opens the incident unless it is open), else
a plain signal (a resolved alert opens nothing). Duplicates are collapsed here, before Temporal:
an alert that Temporal stored moments ago (`RecentlyStored`, per process) is not sent again, and
an alert whose delivery is in flight is waited for rather than sent twice. The workflow still
counts an alert delivered twice once (another API process, or a repeat after the memory forgot
it). `deliver` returns only once Temporal stored every alert (or raises), so a caller
acknowledges nothing unstored.
"""

from __future__ import annotations

import asyncio
import hashlib
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
from warroom.contract.models import SUMMARY_MAX_CHARS, Alert, IncidentInput
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
    #: The alerts the notification carried (now one signal at most, or none when Temporal
    #: stored them all moments ago); the name is kept for the API's existing callers.
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
        declared_by=note.declared_by or MACHINE_DECLARERS.get(note.source, note.source),
        params=route.params,
        approvers=approvers_of(rb, route.entry.teams),
    )


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

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)
        self._stored = RecentlyStored(self.remember_for, self.remember_most)

    async def deliver(self, note: Notification) -> Delivery:
        route = self.catalogue.route(note.labels)
        inp = incident_input(note, route)
        incident_id = incident_id_for(route.runbook.name, note.source, note.group_key)
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
        self.on_collapsed(len(note.alerts) - len(mine))
        started, stored = await self._send(incident_id, inp, mine, list(theirs))
        firing = bool(ordered) and ordered[0].status == "firing"
        outcome: Outcome = (
            "opened" if started else "joined" if stored or firing else "no_open_incident"
        )
        return Delivery(
            incident_id=incident_id,
            runbook=route.runbook.name,
            severity=inp.severity or route.runbook.severity,
            outcome=outcome,
            signals=len(note.alerts),
            fallback_reason=route.fallback_reason,
        )

    async def _send(
        self,
        incident_id: str,
        inp: IncidentInput,
        mine: dict[AlertKey, Alert],
        theirs: list[asyncio.Future[bool]],
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
            started, sent = await self._call(incident_id, inp, list(mine.values()))
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
        self, incident_id: str, inp: IncidentInput, alerts: list[Alert]
    ) -> tuple[bool, bool]:
        """One Temporal call for `alerts` (firing first): signal-with-start when one fires, else
        a plain signal. Whether it opened the incident, and whether the alerts reached one."""
        if not alerts:
            return False, True
        client = await self.client()
        await check_limits(client, incident_id, inp)
        first, *rest = batches(alerts)
        if first[0].status == "firing":
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
