"""`make demo`: a real incident from declared to resolved on a throwaway embedded stack.

A local checkout service has a bad deploy; the demo declares an incident on
runbooks/demo-checkout.yaml, shows progress, approves the rollback as the on-call engineer,
waits until the incident resolves and prints its timeline.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

from warroom import incidents
from warroom.cli import render
from warroom.demo_service import CheckoutService
from warroom.devstack import DevServer, dev_stack, free_port
from warroom.language.loader import load_runbook
from warroom.models import Decision, IncidentState
from warroom.timeline import timeline

APPROVER = "dana-oncall"
#: Status-update interval of the demo incident, whatever its severity.
DEMO_CADENCE = {sev: timedelta(seconds=5) for sev in ("SEV1", "SEV2", "SEV3", "SEV4")}
#: Seconds the demo approver "thinks" before approving, so a cadence update goes out meanwhile.
THINK_SECONDS = 6.0
DEADLINE_SECONDS = 120.0


async def run_demo() -> int:
    started = time.monotonic()
    # The progress lines and the timeline tell the story; the SDK's retry warnings would repeat it.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="warroom-demo-") as tmp,
        CheckoutService(on_update=lambda text: say(f"status update received: {text}")) as svc,
    ):
        svc.export_secrets()
        server = DevServer(Path(tmp), port=free_port(), ui_port=free_port())
        say(
            f"demo checkout service at {svc.url}: deploy {svc.version}, error rate {svc.error_rate():.0%}"
        )
        say("starting the embedded Temporal dev server and worker …")
        async with dev_stack(server) as client:
            say(f"Temporal UI at {server.ui_url} (open it to watch the workflow)")
            # A 15 s demo shows a status update only with a cadence below the runbook
            # language's 1-minute floor, so the demo (and only the demo) shortens it here.
            runbook = load_runbook("demo-checkout")
            runbook = runbook.model_copy(update={"cadence": DEMO_CADENCE})
            incident_id = await incidents.declare(
                client,
                runbook,
                f"Checkout 5xx at {svc.error_rate():.0%} after deploy {svc.version}",
                declared_by="demo",
            )
            say(f"declared {incident_id} on runbook {runbook.name}")
            state = await _follow(client, incident_id, say)
            print()
            print(render.incident_text(state))
            print()
            print("timeline:")
            print(render.timeline_text(await timeline(client, incident_id)))
            print()
            ok = state.status == "resolved" and len(svc.updates) > 0
            say(
                f"{'OK' if ok else 'FAILED'}: incident {state.status}, checkout at "
                f"{svc.version} with error rate {svc.error_rate():.1%}, "
                f"{len(svc.updates)} status updates received"
            )
            return 0 if ok else 1


async def _follow(client: Client, incident_id: str, say: Callable[[str], None]) -> IncidentState:
    """Print a line for every change, approve the rollback when asked, return the final state."""
    seen: dict[str, str] = {}
    approve_at: float | None = None
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        state = await incidents.status(client, incident_id)
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
            decision = Decision(
                step=waiting[0].id, by=APPROVER, comment="error rate confirmed, roll back"
            )
            await incidents.decide(client, incident_id, "approve", decision)
            say(f"{APPROVER} approved {waiting[0].id}")
        if state.is_closed:
            say(f"incident {state.status}: {state.outcome}")
            # Closed is decided before the final status update goes out; the timeline
            # should show the whole story, so wait for the workflow to complete.
            return await asyncio.wait_for(incidents.result(client, incident_id), DEADLINE_SECONDS)
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the demo incident did not close within {DEADLINE_SECONDS:.0f}s")
