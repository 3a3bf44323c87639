"""Key rotation on a live incident: declared under k1, approved after k2 became current (a new
first line); its history then holds payloads of both keys, and a process with both reads it
all, while one with only k2 says it lacks k1."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from tests.codec.conftest import RUNBOOK, Stack
from warroom.contract.codec import CodecKeyError, Keys, key_id_of
from warroom.contract.converter import data_converter
from warroom.contract.models import Decision
from warroom.incidents import decisions, views
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook
from warroom.record.timeline import timeline
from worker import build_worker

K1 = ("k1", bytes(range(32)))
K2 = ("k2", bytes(range(1, 33)))


async def _client(stack: Stack, *keys: tuple[str, bytes]) -> Client:
    return await Client.connect(
        stack.address, data_converter=data_converter(Keys.of(list(keys)) if keys else None)
    )


def _key_ids(history: Any) -> set[str | None]:
    found: set[str | None] = set()
    for event in history.events:
        attrs = event.workflow_execution_signaled_event_attributes
        for payloads in (
            event.workflow_execution_started_event_attributes.input.payloads,
            event.activity_task_scheduled_event_attributes.input.payloads,
            event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads,
            attrs.input.payloads,
        ):
            found |= {key_id_of(p) for p in payloads}
    return found


async def test_an_incident_reads_across_a_rotation(stack: Stack) -> None:
    queue = f"tq-{uuid.uuid4().hex[:12]}"
    runbook = parse_runbook(RUNBOOK.replace("approvers: [carol]", "approvers: [carol, erin]"))
    before = await _client(stack, K1)
    async with build_worker(before, queue):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("WARROOM_TASK_QUEUE", queue)
            incident_id = await declare(before, runbook, "rotationword7310", declared_by="dave")
        for _ in range(100):
            state = await views.status(before, incident_id)
            if state.status == "awaiting_approval":
                break
            await asyncio.sleep(0.1)
        assert state.status == "awaiting_approval"

    after = await _client(stack, K2, K1)  # k2 is the new first line
    async with build_worker(after, queue):
        await decisions.send(
            after, incident_id, "approve", Decision(step="fix", by="carol", comment="rotated")
        )
        history = await after.get_workflow_handle(incident_id).fetch_history()
        assert {"k1", "k2"} <= _key_ids(history)
        entries = await timeline(after, incident_id)
        assert any("rotationword7310" in e.detail for e in entries)
        assert any(e.detail == "rotated" for e in entries)

    only_k2 = await _client(stack, K2)
    with pytest.raises(
        CodecKeyError, match="encrypted with key k1, which this process does not have"
    ):
        await timeline(only_k2, incident_id)
