"""On call in Slack, on the dev server with the web process and the fake Slack: a page is a DM
to whoever is on call with the card's Acknowledge button, whose signed click acknowledges the
incident and stops the escalation; `/warroom oncall` answers who is on call, and `/warroom
oncall override` puts the asker on call and refuses what the roles do not allow, as `/warroom
oncall override cancel` does."""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.slack_blocks import ACKNOWLEDGE
from tests.chat.conftest import DANA, ERIN, MALLORY, STRANGER, VERA, Room
from tests.chat.test_commands import answer, command
from tests.chat.test_room_e2e import click, until
from warroom.contract.models import IncidentInput
from warroom.entry.fakeslack import buttons, texts
from warroom.incidents import views
from warroom.language.loader import parse_runbook
from warroom.language.oncall_file import load_oncall
from warroom.oncall.schedules import sync_schedules
from warroom.record.timeline import timeline
from workflows.incident import IncidentWorkflow

#: The wait before level 2 (erin): the click must stop it within this.
LEVEL_2_WAIT = 5
ONCALL = f"""\
schedules:
  pg:
    timezone: UTC
    layers:
      - rotation: {{every: 1d, handoff: "00:00"}}
        members: [dana]
  sw:
    timezone: UTC
    layers:
      - rotation: {{every: 1d, handoff: "00:00"}}
        members: [dana]
policies:
  pol:
    levels:
      - {{notify: [oncall: pg], wait: 1s}}
      - {{notify: [person: erin], wait: {LEVEL_2_WAIT}s}}
"""
RUNBOOK = """\
name: paged-in-slack
title: Paged in Slack
severity: SEV2
escalation: {policy: pol, acknowledge_within: 1s}
steps:
  - id: hold
    phase: triage
    approval: {approvers: [erin]}
    action: note
    with: {text: held}
"""


@pytest.fixture(scope="module")
async def schedules(room: Room, slack_env: Path) -> AsyncIterator[None]:
    """oncall.yaml beside the runbooks (and people.yaml), its schedules running."""
    path = slack_env / "oncall.yaml"
    path.write_text(ONCALL)
    await sync_schedules(room.client, load_oncall(path))
    yield
    for name in ("pg", "sw"):
        await room.client.get_workflow_handle(f"oncall-{name}").terminate()


def dm(room: Room, user: str) -> list[dict[str, object]]:
    channel = room.slack.channels.get("D" + user[1:])
    return channel.messages if channel else []


def page_to(room: Room, user: str) -> dict[str, object] | None:
    return next((m for m in dm(room, user) if "Paged in Slack" in texts(m)), None)


async def test_a_page_is_a_dm_whose_acknowledge_stops_the_escalation(
    room: Room, schedules: None
) -> None:
    handle = await room.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            runbook=parse_runbook(textwrap.dedent(RUNBOOK)), summary="t", declared_by="t"
        ),
        id=f"inc-slackpage-{uuid.uuid4().hex[:8]}",
        task_queue=os.environ["WARROOM_TASK_QUEUE"],  # the room's worker
    )
    page = await until(lambda: page_to(room, DANA), "the page in dana's DM")
    paged_at = time.monotonic()
    assert "escalation level 1" in texts(page)
    assert buttons(page)[ACKNOWLEDGE] == f'{{"incident": "{handle.id}", "step": null}}'
    response, took, _ = await click(room, DANA, ACKNOWLEDGE, buttons(page)[ACKNOWLEDGE])
    assert response.status_code == 200 and took < 3

    async def acknowledged() -> bool:
        return (await views.status(room.client, handle.id)).milestones.acknowledged is not None

    await until(acknowledged, "the incident acknowledged")
    # Level 2 (erin) would have been paged LEVEL_2_WAIT s after level 1: it is not.
    await asyncio.sleep(max(0.0, paged_at + LEVEL_2_WAIT + 1.5 - time.monotonic()))
    assert page_to(room, ERIN) is None
    entries = await timeline(room.client, handle.id)
    await handle.terminate()
    paged = [e.detail for e in entries if e.event == "paged"]
    assert paged == ["level 1: dana by slack (on call for pg)"]
    [ack] = [e for e in entries if e.event == "acknowledged"]
    assert ack.actor == "dana"


async def test_oncall_commands_answer_and_refuse_by_role(room: Room, schedules: None) -> None:
    async def said(user: str, text: str) -> dict[str, object]:
        return await answer(room, await command(room, user, text, "C0"))

    now = await said(STRANGER, "oncall sw")
    assert now["response_type"] == "ephemeral"
    assert str(now["text"]) == "*sw*: Dana Ortiz"  # one member: no handoff ahead
    every = str((await said(DANA, "oncall"))["text"])
    assert "*pg*: Dana Ortiz" in every and "*sw*: Dana Ortiz" in every

    start = datetime.now(UTC) - timedelta(minutes=1)
    end = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%MZ")
    erin = f'oncall override sw --who erin --from now --until {end} --reason "swap with dana"'
    by_dana = await said(DANA, erin)
    assert by_dana["response_type"] == "ephemeral"
    assert "Not applied: an override putting erin on call needs the admin role" in str(
        by_dana["text"]
    )
    stranger = await said(STRANGER, erin)
    assert "is not in people.yaml" in str(stranger["text"])
    missing = await said(ERIN, "oncall override sw --who erin --from now")
    assert "missing --until, --reason" in str(missing["text"])
    unknown = await said(ERIN, erin.replace(" sw ", " nosuch "))
    assert "no schedule 'nosuch'" in str(unknown["text"])

    taken = await said(ERIN, erin.replace("--who erin", f"--who <@{ERIN}|erin>"))
    assert taken["response_type"] == "in_channel", taken["text"]
    assert str(taken["text"]).startswith("erin: override ")
    assert "Erin Lee on call from" in str(taken["text"])
    now = await said(STRANGER, "oncall sw")
    assert "*sw*: Erin Lee until " in str(now["text"])
    assert "(override o1 by erin: swap with dana)" in str(now["text"])


async def test_cancel_an_override_from_slack(room: Room, schedules: None) -> None:
    async def said(user: str, text: str) -> dict[str, object]:
        return await answer(room, await command(room, user, text, "C0"))

    day = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")
    taken = await said(
        ERIN, f'oncall override sw --who erin --from "{day} 09:00" --until "{day} 12:00" --reason x'
    )
    assert taken["response_type"] == "in_channel", taken["text"]
    override_id = str(taken["text"]).split()[2]  # "erin: override oN on sw: …"
    cancel = f"oncall override cancel sw {override_id}"

    usage = await said(ERIN, "oncall override cancel sw")
    assert "Usage: `/warroom oncall override cancel SCHEDULE ID [reason]`" in str(usage["text"])
    stranger = await said(STRANGER, cancel)
    assert "is not in people.yaml" in str(stranger["text"])
    viewer = await said(VERA, cancel)
    assert "needs the responder role" in str(viewer["text"])
    mallory = await said(MALLORY, cancel)
    assert mallory["response_type"] == "ephemeral"
    refused = (
        f"Not applied: cancelling override {override_id} (it put erin on call; erin made it) "
        "needs the admin role"
    )
    assert refused in str(mallory["text"])
    done = await said(ERIN, cancel + " plans changed")
    assert done["response_type"] == "in_channel", done["text"]
    assert str(done["text"]) == (
        f"erin: cancelled override {override_id} on sw: Erin Lee is no longer on call for it "
        "(plans changed)"
    )
    again = await said(ERIN, cancel)
    assert f"Not applied: no override {override_id} in sw" in str(again["text"])
