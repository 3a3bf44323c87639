"""A decision that arrives while the incident's run is handing over to the next one (continue
as new), held a while by a call to Slack the room started in the same workflow task: carried
over and applied, and its caller answered. Before, the abort's handler waited for a close that
only the handing-over run could bring, and the run waited for the handler: neither ever came."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.chat.conftest import ROOM
from tests.chat.test_room_e2e import until
from tests.workflows.test_lifecycle import BACKLOG, backlog
from warroom.contract.models import Abort, IncidentInput
from warroom.entry.fakeslack import FakeSlack
from warroom.language.loader import parse_runbook
from worker import build_worker
from workflows.incident import IncidentWorkflow

pytestmark = pytest.mark.slow  # two thousand signals, a worker stopped and started again

#: chat.update answers 429 (Retry-After: 1) this many times: the card edit of the handover
#: stays in flight for seconds (fewer than the room's attempts: the edit then goes through).
HELD = 3


async def test_an_abort_while_the_room_holds_the_handover_is_carried_and_applied(
    dev_env, slack: FakeSlack, slack_env
) -> None:
    client, queue = dev_env.client, f"tq-handover-{time.monotonic_ns()}"
    runbook = parse_runbook(ROOM, teams={"sre": ["dana", "erin"]})
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(runbook=runbook, summary="handover", declared_by="tester"),
        id=f"inc-handover-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )
    async with build_worker(client, queue):
        await until(
            lambda: any(
                c.method == "chat.postMessage" and "rollback" in str(c.args) for c in slack.calls
            ),
            "the approval message in the room",
            within=30,
        )
        state = await handle.query(IncidentWorkflow.status)
        first_run = (await handle.describe()).run_id
    assert state.status == "awaiting_approval"
    await backlog(handle)  # past the point of continuing as new, while no worker runs
    slack.rate_limited["chat.update"] = HELD
    held = len([c for c in slack.calls if c.error == "ratelimited"])
    async with build_worker(client, queue):
        # The run hands over; the room's card edit (the alerts changed it) holds it.
        await until(
            lambda: len([c for c in slack.calls if c.error == "ratelimited"]) > held,
            "the card edit held by Slack's rate limit",
            within=30,
        )
        answered = await asyncio.wait_for(
            handle.execute_update(IncidentWorkflow.abort_incident, Abort(by="dana")), 30
        )
        result = await asyncio.wait_for(handle.result(), 60)
    assert [d.kind for d in answered.decisions][-1] == "abort"  # recorded, carried over
    assert result.status == "aborted" and result.outcome == "aborted by dana"
    assert result.alerts_received == BACKLOG
    assert (await handle.describe()).run_id != first_run  # it did continue as new
    assert result.chat is not None and result.chat.stopped is None  # the room went on
