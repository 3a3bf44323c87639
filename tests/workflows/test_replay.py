"""Saved histories still replay: IncidentWorkflow changes that alter history need workflow.patched()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.incident import IncidentWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay():
    assert {p.name for p in HISTORIES} >= {
        "demo-checkout-approved.json",
        "demo-checkout-rejected.json",
        "demo-checkout-approved-after-refusals.json",  # refused signals in state, deadlines
        "lifecycle.json",  # quorum, escalation, alerts, acknowledge, assign, note, severity
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))  # noqa: ASYNC240
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
