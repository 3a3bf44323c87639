"""The saved history recorded with the archive activity carries its patch, schedules
`archive.write` once, and replays (tests/workflows/test_replay.py replays every saved one)."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.workflows.test_replay import patches
from warroom.contract.converter import data_converter
from workflows.incident import ARCHIVE_ACTIVITY, PATCH_ARCHIVE, IncidentWorkflow

HISTORY = (
    Path(__file__).parent.parent
    / "workflows/histories/demo-checkout-approved-v4-archive-record.json"
)


def test_the_archive_history_carries_the_patch_and_schedules_the_activity_once():
    assert PATCH_ARCHIVE in patches(HISTORY)
    scheduled = [
        e
        for e in json.loads(HISTORY.read_text())["events"]
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == ARCHIVE_ACTIVITY
    ]
    assert len(scheduled) == 1


async def test_the_archive_history_replays():
    history = WorkflowHistory.from_json(HISTORY.stem, json.loads(HISTORY.read_text()))
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
