"""`make demo`: a real incident from alert to resolved on a throwaway embedded stack.

A local checkout service has a bad deploy. An Alertmanager-format notification about it is
posted to warroom's HTTP API (as Alertmanager does in production; with `--alertmanager`, a real
Prometheus and Alertmanager watch the service and send it themselves), which routes it to
runbooks/demo-checkout.yaml and opens the incident. The demo shows progress, approves the
rollback as the on-call engineer, lets the resolved notification reach the incident, waits
until it resolves and prints its timeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from warroom.archive.store import configured
from warroom.cli import render
from warroom.contract.codec import ENCODING
from warroom.contract.models import Decision, IncidentState
from warroom.entry import slack_demo
from warroom.entry.demo_service import RECOVERY_SECONDS, CheckoutService
from warroom.entry.devstack import DevServer, Monitoring, dev_stack, free_port
from warroom.entry.devstack import encrypt as encrypted
from warroom.entry.serve import api
from warroom.incidents import decisions, views
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import load_runbook
from warroom.language.runbook import Escalation
from warroom.oncall import schedules
from warroom.record.timeline import timeline
from warroom.record.writer import POSTMORTEM_DIR

APPROVER = "dana-oncall"
#: The alert the demo's monitoring raises; runbooks/demo-checkout.yaml matches it.
ALERT = "DemoCheckoutErrorRate"
#: Status-update interval of the demo incident, whatever its severity.
DEMO_CADENCE = {sev: timedelta(seconds=5) for sev in ("SEV1", "SEV2", "SEV3", "SEV4")}
#: The demo incident pages whoever is on call (runbooks/oncall.yaml, policy sre-default) when
#: nobody acknowledged within 2 s (the approver "thinks" longer), through the demo's people file.
DEMO_ESCALATION = Escalation(policy="sre-default", acknowledge_within=timedelta(seconds=2))
#: With a real Prometheus and Alertmanager, the resolved notification takes a few seconds
#: (scrape, evaluation, group interval): the service recovers slowly enough for it to arrive
#: while the incident still verifies.
ALERTMANAGER_RECOVERY_SECONDS = 8.0
#: Seconds the demo approver "thinks" before approving, so a cadence update goes out meanwhile.
THINK_SECONDS = 6.0
DEADLINE_SECONDS = 120.0


def notification(
    status: str, starts_at: datetime, ends_at: datetime | None = None
) -> dict[str, Any]:
    """An Alertmanager webhook notification (version 4) about the demo alert."""
    labels = {"alertname": ALERT, "service": "checkout", "severity": "warning"}
    return {
        "receiver": "warroom",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": "Checkout 5xx ratio is 23% after deploy v2.4.1"},
                "startsAt": starts_at.isoformat(),
                "endsAt": (ends_at or datetime(1, 1, 1, tzinfo=UTC)).isoformat(),
                "generatorURL": "http://prometheus.demo:9090/graph?g0.expr=checkout_error_rate",
                "fingerprint": "d3m0c4ec0u7a1e27",
            }
        ],
        "groupLabels": {"alertname": ALERT},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "Checkout 5xx ratio is 23% after deploy v2.4.1"},
        "externalURL": "http://alertmanager.demo:9093",
        "version": "4",
        "groupKey": '{}:{alertname="' + ALERT + '"}',
        "truncatedAlerts": 0,
    }


def demo_catalogue(room: slack_demo.Room | None = None) -> Catalogue:
    """The runbooks the demo's API routes by: the shipped ones, demo-checkout with a cadence
    below the language's 1-minute floor (a 20 s demo shows a status update only so), paging
    the on-call person after 2 s, and with
    a Slack room when the demo has one."""
    runbook = load_runbook("demo-checkout").model_copy(
        update={"cadence": DEMO_CADENCE, "escalation": DEMO_ESCALATION}
    )
    if room is not None:
        runbook = runbook.model_copy(update={"chat": slack_demo.CHAT})
    shipped = Catalogue.load()
    return Catalogue([Entry(runbook), *shipped.entries.values()], shipped.fallback)


#: How long the demo waits for the archive to hold the closed incident's whole record.
ARCHIVE_WAIT_SECONDS = 30.0


async def _archived_where(incident_id: str, tmp: str) -> str:
    """Where the incident's record was archived, once the archive holds it whole; "" if not."""
    archive = configured()
    if archive is None:
        return ""
    deadline = time.monotonic() + ARCHIVE_WAIT_SECONDS
    while time.monotonic() < deadline:
        record = await asyncio.to_thread(archive.latest, incident_id)
        if record is not None and record.complete:
            said = f"record of {incident_id} archived in {archive.where} (schema "
            if tmp in archive.where:
                return said + (
                    f"{archive.schema_version()}; the demo's temporary directory, removed when "
                    "it ends: set WARROOM_ARCHIVE_URL=sqlite:////path/archive.db to keep it)"
                )
            return said + f"{archive.schema_version()})"
        await asyncio.sleep(0.2)
    return ""


async def run_demo(
    *, alertmanager: bool = False, encrypt: bool = False, slack: bool = False
) -> int:
    if slack:
        return await slack_demo.run(
            lambda room: _run_demo(alertmanager=alertmanager, encrypt=encrypt, room=room)
        )
    return await _run_demo(alertmanager=alertmanager, encrypt=encrypt)


async def _run_demo(
    *, alertmanager: bool, encrypt: bool, room: slack_demo.Room | None = None
) -> int:
    started = time.monotonic()
    # The progress lines and the timeline tell the story; the SDK's retry warnings would repeat it.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="warroom-demo-") as tmp,
        CheckoutService(
            on_update=lambda text: say(f"status update received: {text}"),
            on_page=lambda text: say(f"page received: {text}"),
            recovery_seconds=ALERTMANAGER_RECOVERY_SECONDS if alertmanager else RECOVERY_SECONDS,
        ) as svc,
    ):
        svc.export_secrets()
        svc.export_people(Path(tmp))
        server = DevServer(Path(tmp), port=free_port(), ui_port=free_port())
        api_port = free_port()
        if encrypt:
            keys = encrypted(server, f"http://127.0.0.1:{api_port}")
            say(
                f"payload encryption on: key {keys.current}; the Temporal UI decodes through the codec server"
            )
        say(
            f"demo checkout service at {svc.url}: deploy {svc.version}, error rate {svc.error_rate():.0%}"
        )
        say("starting the embedded Temporal dev server, worker and HTTP API …")
        async with (
            dev_stack(server) as client,
            api(say, client=client, port=api_port, catalogue=demo_catalogue(room)) as url,
        ):
            approve = room.approver(client, url, say) if room else _approve(client, say)
            say(f"Temporal UI at {server.ui_url} (open it to watch the workflow)")
            for answer in await schedules.who_is_on_call(client, [], datetime.now(UTC)):
                who = answer.who or "nobody"
                say(
                    f"on call for {answer.schedule}: {who} (runbooks/oncall.yaml; `warroom oncall now`)"
                )
            if alertmanager:
                state = await _with_alertmanager(client, url, svc, Path(tmp), say, approve)
            else:
                state = await _with_posted_notifications(client, url, svc, say, approve)
            print()
            print(render.incident_text(state))
            print()
            print("timeline:")
            print(render.timeline_text(await timeline(client, state.incident_id)))
            print()
            drafted = _postmortem_excerpt(state.incident_id)
            if drafted:
                print(drafted)
                print()
            if room:
                print(room.transcript())
                print()
            where = await _archived_where(state.incident_id, tmp)
            say(where or f"FAILED: {state.incident_id} was not archived")
            if encrypt:
                say(await _stored_encrypted(client, state))
            alerts_resolved = bool(state.alerts) and not state.firing_alerts
            ok = (
                state.status == "resolved"
                and len(svc.updates) > 0
                and alerts_resolved
                and bool(drafted)
                and bool(where)
            )
            say(
                f"{'OK' if ok else 'FAILED'}: incident {state.status}, checkout at "
                f"{svc.version} with error rate {svc.error_rate():.1%}, "
                f"{len(svc.updates)} status updates received, alert "
                f"{'resolved' if alerts_resolved else 'still firing'}"
            )
            return 0 if ok else 1


async def _stored_encrypted(client: Client, state: IncidentState) -> str:
    """What Temporal stores of the incident: how many payloads are encrypted and how many
    plain, and whether its title or summary appears anywhere in the stored bytes."""
    history = await client.get_workflow_handle(state.incident_id).fetch_history()
    stored = b"".join(event.SerializeToString() for event in history.events)
    encrypted, plain = stored.count(ENCODING), stored.count(b"json/plain")
    seen = state.title.encode() in stored or state.summary.encode() in stored
    return (
        f"Temporal stores {encrypted} encrypted payloads and {plain} plain ones for the "
        f"incident; its title or summary in the stored bytes: {'YES' if seen else 'nowhere'}"
    )


def _postmortem_excerpt(incident_id: str) -> str:
    """The start of the postmortem draft the workflow wrote when the incident closed (summary,
    impact, metrics), or "" when there is none."""
    path = Path(os.environ.get(POSTMORTEM_DIR, "")) / f"{incident_id}.md"
    if not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8").splitlines()
    cut = next((i for i, line in enumerate(lines) if line.startswith("## What the runbook")), 40)
    head = f"postmortem draft (the workflow wrote it at close: {path.name}), its start:"
    return "\n".join([head, "", *lines[:cut], "…"])


Approve = Callable[[str, str], Coroutine[Any, Any, None]]


def _approve(client: Client, say: Callable[[str], None]) -> Approve:
    """The on-call engineer approves from the CLI's call (`warroom approve`)."""

    async def approve(incident_id: str, step: str) -> None:
        decision = Decision(step=step, by=APPROVER, comment="error rate confirmed, roll back")
        await decisions.send(client, incident_id, "approve", decision)
        say(f"{APPROVER} approved {step}")

    return approve


async def _with_posted_notifications(
    client: Client, url: str, svc: CheckoutService, say: Callable[[str], None], approve: Approve
) -> IncidentState:
    """Post what Alertmanager would: the firing notification (twice, as a retry would), and
    the resolved one once the rollback brought the error rate down."""
    endpoint = f"{url}/v1/alerts/alertmanager"
    starts_at = datetime.now(UTC)
    async with httpx.AsyncClient(timeout=30) as http:

        async def post(status: str, ends_at: datetime | None = None) -> dict[str, Any]:
            reply = await http.post(endpoint, json=notification(status, starts_at, ends_at))
            reply.raise_for_status()
            answer: dict[str, Any] = reply.json()
            return answer

        say(f"Alertmanager-format notification {ALERT} firing → POST {endpoint}")
        opened = await post("firing")
        say(f"{opened['outcome']} {opened['incident_id']} on runbook {opened['runbook']}")
        again = await post("firing")
        say(
            f"the same notification again (an Alertmanager retry): {again['outcome']}, same "
            "incident (the API stored it moments ago: not sent to Temporal again)"
        )
        incident_id = opened["incident_id"]

        async def resolved() -> None:
            answer = await post("resolved", datetime.now(UTC))
            say(
                f"{ALERT} resolved (rolled back) → POST {endpoint}: {answer['outcome']} {answer['incident_id']}"
            )

        return await _follow(client, incident_id, say, resolved, approve)


async def _with_alertmanager(
    client: Client,
    url: str,
    svc: CheckoutService,
    tmp: Path,
    say: Callable[[str], None],
    approve: Approve,
) -> IncidentState:
    """A real Prometheus scrapes the service and fires the alert; a real Alertmanager sends
    the firing and the resolved notification to the API."""
    with Monitoring(tmp / "monitoring", webhook=f"{url}/v1/alerts/alertmanager") as mon:
        mon.start(
            scrape=svc.metrics_target(),
            rule={
                "alert": ALERT,
                "expr": "checkout_error_rate > 0.05",
                "labels": {"service": "checkout", "severity": "warning"},
                "annotations": {
                    "summary": "Checkout 5xx ratio is {{ $value | humanizePercentage }}"
                },
            },
        )
        say(
            f"Prometheus at {mon.prometheus_url}, Alertmanager at {mon.alertmanager_url} (real ones)"
        )
        say(f"waiting for Prometheus to fire {ALERT} and Alertmanager to notify warroom …")
        incident_id = await _wait_for_incident(client, say, mon.check)

        async def resolved() -> None:
            say("the error rate is down: Prometheus resolves the alert, Alertmanager tells warroom")
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                state = await views.status(client, incident_id)
                if state.alerts and not state.firing_alerts:
                    say(f"Alertmanager's resolved notification reached {incident_id}")
                    return
                await asyncio.sleep(0.5)

        return await _follow(client, incident_id, say, resolved, approve)


async def _wait_for_incident(
    client: Client, say: Callable[[str], None], check: Callable[[], None]
) -> str:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        check()  # Prometheus and Alertmanager still run
        found = await views.list_incidents(client, limit=5)
        if found:
            say(f"Alertmanager's notification opened {found[0].incident_id} on {found[0].runbook}")
            return found[0].incident_id
        await asyncio.sleep(0.5)
    raise TimeoutError(f"no incident opened within {DEADLINE_SECONDS:.0f}s")


async def _follow(
    client: Client,
    incident_id: str,
    say: Callable[[str], None],
    after_rollback: Callable[[], Coroutine[Any, Any, None]],
    approve: Approve,
) -> IncidentState:
    """Print a line for every change, approve the rollback when asked, run `after_rollback`
    meanwhile once the rollback succeeded, return the final state."""
    seen: dict[str, str] = {}
    approve_at: float | None = None
    resolving: asyncio.Task[None] | None = None
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        state = await views.status(client, incident_id)
        for step in state.steps:
            line = render.step_line(step)
            if seen.get(step.id) != line and step.status != "pending":
                seen[step.id] = line
                say(line)
        waiting = [s for s in state.pending_approvals if APPROVER in s.approvers]
        if waiting and approve_at is None:
            approve_at = time.monotonic() + THINK_SECONDS
            say(
                f"{APPROVER} is paged to approve {waiting[0].id}; approving in {THINK_SECONDS:.0f}s"
            )
        if waiting and approve_at is not None and time.monotonic() >= approve_at:
            await approve(incident_id, waiting[0].id)
        rolled_back = any(s.id == "rollback" and s.status == "succeeded" for s in state.steps)
        if rolled_back and resolving is None:
            resolving = asyncio.create_task(after_rollback())
        if state.is_closed and (resolving is None or resolving.done()):
            say(f"incident {state.status}: {state.outcome}")
            if resolving is not None:
                await resolving  # its errors are the demo's
            # Closed is decided before the final status update goes out; the timeline
            # should show the whole story, so wait for the workflow to complete.
            return await asyncio.wait_for(views.result(client, incident_id), DEADLINE_SECONDS)
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the demo incident did not close within {DEADLINE_SECONDS:.0f}s")
