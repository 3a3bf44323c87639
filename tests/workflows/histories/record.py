"""Record workflow histories for the replay tests: `.venv/bin/python -m tests.workflows.histories.record`.

Runs the demo runbook against the demo checkout service on a real dev server, once approved,
once rejected, and once approved after refused signals (a non-approver, a decision past its
deadline), plus `lifecycle.yaml` through every lifecycle control (`record lifecycle`), and
saves each history as JSON beside this file, named with the current GENERATION. Re-record
only when a history-changing workflow change is guarded by `workflow.patched()`: bump
GENERATION first, so that the older files stay (they prove that incidents started by older
code still replay).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from warroom.contract import search_attributes
from warroom.contract.client import installed_binary
from warroom.contract.converter import data_converter
from warroom.contract.models import Abort, Acknowledge, Alert, Assign, Decision, Note, SetSeverity
from warroom.entry.demo_service import CheckoutService
from warroom.incidents import decisions, views
from warroom.incidents.declare import declare
from warroom.language.loader import load_runbook, parse_runbook
from worker import build_worker
from workflows.incident import IncidentWorkflow

HERE = Path(__file__).resolve().parent
#: The suffix of the files this code records. "" was recorded before the timeline's own
#: records and the postmortem activity (patches `timeline-records`, `postmortem-draft`);
#: "-v2" with them; "-v3" also with the commander search attribute (`commander-attribute`);
#: "-v4-archive-record" also with the archive activity (`archive-record`, recorded: approve).
GENERATION = "-v4-archive-record"


def save(name: str, history: WorkflowHistory) -> None:
    path = HERE / f"{name}{GENERATION}.json"
    path.write_text(history.to_json())
    print(f"saved {path.name} ({len(history.events)} events)")


@asynccontextmanager
async def recording() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server with a worker on task queue `record`, and the demo checkout service."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
    )
    with CheckoutService() as svc, tempfile.TemporaryDirectory() as archive:
        svc.export_secrets()
        os.environ["WARROOM_ARCHIVE_URL"] = f"sqlite:///{archive}/archive.db"
        async with env, build_worker(env.client, "record"):
            os.environ["WARROOM_TASK_QUEUE"] = "record"
            yield env


async def record(kind: str) -> None:
    async with recording() as env:
        incident_id = await declare(
                env.client, load_runbook("demo-checkout"), "recorded", declared_by="recorder",
                incident_id=f"inc-recorded-{kind}",
            )  # fmt: skip
        # polls the server's state; nothing local to wait on
        while not (await views.status(env.client, incident_id)).pending_approvals:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await asyncio.sleep(6)  # let one cadence update go out while waiting
        handle = env.client.get_workflow_handle(incident_id)
        decision = kind.removesuffix("-after-refusals")
        if decision != kind:
            for refused in (
                Decision(step="rollback", by="mallory"),
                Decision(step="rollback", by="sre-lead", deadline=datetime(2020, 1, 1, tzinfo=UTC)),
            ):
                await handle.signal(IncidentWorkflow.approve, refused)
        await decisions.send(
            env.client,
            incident_id,
            decision,
            Decision(step="rollback", by="dana-oncall"),  # type: ignore[arg-type]
        )
        await handle.result()
        history = await handle.fetch_history()
        save(
            f"demo-checkout-{kind.replace('approve', 'approved').replace('reject', 'rejected')}",
            history,
        )


async def record_lifecycle() -> None:
    """`lifecycle.yaml`: an unacknowledged escalation, alerts (one delivered twice), then
    acknowledge, assign, note and a severity change, a quorum of two, and the all-clear."""
    async with recording() as env:
        incident_id = await declare(
                env.client, load_runbook(str(HERE / "lifecycle.yaml")), "recorded",
                declared_by="recorder", incident_id="inc-recorded-lifecycle",
            )  # fmt: skip
        handle = env.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        while not (await views.status(env.client, incident_id)).escalations:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        fired = Alert(fingerprint="fp-1", labels={"alertname": "CheckoutHighErrorRate"})
        for alert in (fired, fired, fired.model_copy(update={"fingerprint": "fp-2"})):
            await handle.signal(IncidentWorkflow.alert, alert)
        await handle.execute_update(IncidentWorkflow.acknowledge_incident, Acknowledge(by="dana"))
        await handle.execute_update(
            IncidentWorkflow.assign_role, Assign(role="comms", to="erin", by="dana")
        )
        await handle.execute_update(IncidentWorkflow.add_note, Note(text="bridge open", by="erin"))
        await handle.execute_update(
            IncidentWorkflow.change_severity, SetSeverity(severity="SEV1", by="dana")
        )
        for by in ("recorder", "alice", "bob"):  # the declarer's approval is refused
            await handle.signal(IncidentWorkflow.approve, Decision(step="rollback", by=by))
        await handle.result()
        history = await handle.fetch_history()
        save("lifecycle", history)


#: One step that waits for alice's approval, then notes "fixed".
APPROVED_FIX = """\
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [alice]}
    action: note
    with: {text: fixed}
"""

ESCALATION = (
    """\
name: escalation
title: Nobody acknowledges
severity: SEV3
escalation:
  acknowledge_within: 1s
  levels:
    - {wait: 2s, notify: [{action: webhook.post, with: {url: "{{ secret.STATUS_WEBHOOK }}"}}]}
    - {wait: 3s, notify: [{action: webhook.post, with: {url: "{{ secret.STATUS_WEBHOOK }}"}}]}
"""
    + APPROVED_FIX
)


async def record_escalation(name: str) -> None:
    """Two escalation levels reached, then the approval: the waits between levels (patch
    `escalation-wait-before-level`: before it, level 2 came the first level's `wait` after
    level 1; with it, its own). Saved as `name`.json, whatever the GENERATION."""
    async with recording() as env:
        runbook = parse_runbook(ESCALATION)
        incident_id = await declare(
            env.client, runbook, "recorded", declared_by="recorder", incident_id=f"inc-{name}"
        )
        handle = env.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        while len((await views.status(env.client, incident_id)).escalations) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await handle.signal(IncidentWorkflow.approve, Decision(step="fix", by="alice"))
        await handle.result()
        history = await handle.fetch_history()
        (HERE / f"{name}.json").write_text(history.to_json())
        print(f"saved {name}.json ({len(history.events)} events)")


async def record_alert_budget() -> None:
    """`alert-budget.yaml` (patches `alert-budget`, `unset-notification-skipped`,
    `mitigated-after-mitigation`): two notifications of 300 alerts past the alert budget, one
    repeated, then every alert resolved, which resolves the incident. Saved as
    `alert-budget.json`, whatever GENERATION says."""
    async with recording() as env:
        incident_id = await declare(
                env.client, load_runbook(str(HERE / "alert-budget.yaml")), "recorded",
                declared_by="recorder", incident_id="inc-recorded-alert-budget",
            )  # fmt: skip
        handle = env.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        while not (await views.status(env.client, incident_id)).pending_approvals:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        starts = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        fired = [
            Alert(fingerprint=f"disk-{n}", labels={"alertname": "DiskFull"}, starts_at=starts)
            for n in range(600)
        ]
        for alerts in (fired[:300], fired[300:], fired[:300]):
            await handle.signal(IncidentWorkflow.alerts, alerts)
        resolved = [a.model_copy(update={"status": "resolved"}) for a in fired]
        for alerts in (resolved[:300], resolved[300:]):
            await handle.signal(IncidentWorkflow.alerts, alerts)
        await handle.result()
        history = await handle.fetch_history()
        path = HERE / "alert-budget.json"
        path.write_text(history.to_json())
        print(f"saved {path.name} ({len(history.events)} events)")


HANDOVER = (
    """\
name: handover
title: A decision as the run is due to continue as new
severity: SEV3
"""
    + APPROVED_FIX
)
#: The server suggests continuing as new past this many events (dev server dynamic config):
#: a short history that still takes the path.
SUGGEST_AFTER = 40


async def record_decision_at_handover() -> None:
    """Patch `decisions-before-continuing`: alert signals pile up while no worker runs, past
    the point where the server suggests continuing as new, and an abort (update) waits with
    them; the next worker applies the abort in that run and closes the incident. Saved as
    `decision-at-handover.json`, whatever GENERATION says."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER}",
        ],
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
    )
    async with env:
        os.environ["WARROOM_TASK_QUEUE"] = "record"
        incident_id = "inc-recorded-decision-at-handover"
        async with build_worker(env.client, "record"):
            await declare(
                env.client, parse_runbook(HANDOVER), "recorded", declared_by="recorder",
                incident_id=incident_id,
            )  # fmt: skip
            while not (await views.status(env.client, incident_id)).pending_approvals:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        handle = env.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        run_id = (await handle.describe()).run_id
        for n in range(SUGGEST_AFTER):
            alert = Alert(fingerprint=f"fp-{n}", labels={"alertname": "CheckoutHighErrorRate"})
            await handle.signal(IncidentWorkflow.alert, alert)
        abort = asyncio.ensure_future(
            handle.execute_update(IncidentWorkflow.abort_incident, Abort(by="alice"))
        )
        await asyncio.sleep(1)  # admitted while no worker runs
        async with build_worker(env.client, "record"):
            closed = await abort
            await handle.result()
        assert closed.status == "aborted", closed.status
        assert (await handle.describe()).run_id == run_id, "it continued as new instead"
        history = await handle.fetch_history()
        path = HERE / "decision-at-handover.json"
        path.write_text(history.to_json())
        print(f"saved {path.name} ({len(history.events)} events)")


RECORDERS = {
    "lifecycle": record_lifecycle,
    "alert-budget": record_alert_budget,
    "decision-at-handover": record_decision_at_handover,
}

if __name__ == "__main__":
    for kind in sys.argv[1:] or ["approve", "reject", "approve-after-refusals", "lifecycle"]:
        recorder = RECORDERS.get(kind)
        if kind.startswith("escalation"):  # `record escalation-NAME`: saved as that name
            asyncio.run(record_escalation(kind))
        else:
            asyncio.run(recorder() if recorder else record(kind))
