"""Saved histories still replay: IncidentWorkflow changes that alter history need workflow.patched()."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from warroom.contract.codec import Keys
from warroom.contract.converter import data_converter
from workflows.incident import (
    PATCH_ALERT_BUDGET,
    PATCH_COMMANDER,
    PATCH_DECISIONS_FIRST,
    PATCH_MITIGATED,
    PATCH_MITIGATION_RAN,
    PATCH_POSTMORTEM,
    PATCH_TIMELINE,
    PATCH_UNSET_TARGET,
    IncidentWorkflow,
)

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay():
    assert {p.name for p in HISTORIES} >= {
        "demo-checkout-approved.json",
        "demo-checkout-rejected.json",
        "demo-checkout-approved-after-refusals.json",  # refused signals in state, deadlines
        "lifecycle.json",  # quorum, escalation, alerts, acknowledge, assign, note, severity
        # The same, recorded with the timeline's own records and the postmortem activity.
        "demo-checkout-approved-v2.json",
        "demo-checkout-rejected-v2.json",
        "demo-checkout-approved-after-refusals-v2.json",
        "lifecycle-v2.json",
        # And with the commander search attribute.
        "demo-checkout-approved-v3.json",
        "demo-checkout-rejected-v3.json",
        "demo-checkout-approved-after-refusals-v3.json",
        "lifecycle-v3.json",
        # The alert budget, a notification with its secret unset, mitigation skipped.
        "alert-budget.json",
        # An abort that arrived with a history due to continue as new: applied in that run.
        "decision-at-handover.json",
    }


def patches(path: Path) -> set[str]:
    """The patch ids a recorded history's markers carry."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        details = event.get("markerRecordedEventAttributes", {}).get("details", {})
        for payload in details.get("patch-data", {}).get("payloads", []):
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def test_the_newest_histories_take_the_newest_paths():
    """So that their replay checks the commands behind every patch, not only the old ones."""
    newest = [p for p in HISTORIES if p.stem.endswith("-v3")]
    for path in newest:
        every = {PATCH_TIMELINE, PATCH_POSTMORTEM, PATCH_COMMANDER}
        assert patches(path) >= every, path.name
        assert '"postmortem.write"' in path.read_text(), path.name
    assert PATCH_MITIGATED in set().union(*map(patches, newest))


def test_a_history_takes_the_alert_budget_and_the_paths_behind_its_patches():
    path = next(p for p in HISTORIES if p.name == "alert-budget.json")
    assert patches(path) >= {PATCH_ALERT_BUDGET, PATCH_UNSET_TARGET, PATCH_MITIGATION_RAN}
    assert "alerts summarised" in memo_events(path)
    assert "skipped (secret unset)" in memo_events(path)


def test_a_history_takes_the_decision_before_continuing_as_new():
    path = next(p for p in HISTORIES if p.name == "decision-at-handover.json")
    assert PATCH_DECISIONS_FIRST in patches(path)
    events = json.loads(path.read_text())["events"]
    assert any(
        e.get("workflowTaskStartedEventAttributes", {}).get("suggestContinueAsNew") for e in events
    )
    completed = events[-1]["workflowExecutionCompletedEventAttributes"]  # not continued
    result = json.loads(base64.b64decode(completed["result"]["payloads"][0]["data"]))
    assert result["status"] == "aborted"


def memo_events(path: Path) -> set[str]:
    """The events of the workflow's own timeline records in a recorded history."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        memo = event.get("workflowPropertiesModifiedEventAttributes", {}).get("upsertedMemo", {})
        if "event" in memo.get("fields", {}):
            found.add(json.loads(base64.b64decode(memo["fields"]["event"]["data"]))["event"])
    return found


REPLAY_KEYS = Keys.of([("replay", bytes(32))])


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))  # noqa: ASYNC240
    # With the codec of a worker that encrypts: saved (plain) histories still replay, as
    # incidents started before encryption was turned on do (tests/codec replays encrypted ones).
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=data_converter(REPLAY_KEYS))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
