"""A saved ScheduleWorkflow history still replays: a change to the commands the workflow issues
needs workflow.patched(). Re-record with WARROOM_RECORD_HISTORIES=1 (test_schedule_workflow,
test_override_cancel)."""

from __future__ import annotations

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.oncall.test_override_cancel import HISTORY as CANCEL_HISTORY
from tests.oncall.test_schedule_workflow import HISTORY
from workflows.schedule import ScheduleWorkflow


async def test_the_recorded_four_weeks_replay() -> None:
    history = WorkflowHistory.from_json("oncall-recorded", HISTORY.read_text())
    kinds = HISTORY.read_text()
    assert "oncall.notify" in kinds and "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW" in kinds
    replayer = Replayer(workflows=[ScheduleWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_the_recorded_cancels_replay() -> None:
    """Both kinds of cancel (one in progress, one ahead), their notices, a continue-as-new."""
    text = CANCEL_HISTORY.read_text()
    assert text.count('"cancel_override"') >= 2 and "CONTINUED_AS_NEW" in text
    replayer = Replayer(workflows=[ScheduleWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(WorkflowHistory.from_json("oncall-cancel", text))
