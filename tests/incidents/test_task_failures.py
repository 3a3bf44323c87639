"""A workflow task the server failed on its own (a signal arrived meanwhile) is not a stall;
one the workflow's code keeps failing is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.workflow.v1 import PendingWorkflowTaskInfo, WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionResponse,
    GetWorkflowExecutionHistoryReverseResponse,
)
from temporalio.client import WorkflowExecutionStatus

from warroom.contract.converter import data_converter
from warroom.incidents.execution import run_truth

C = WorkflowTaskFailedCause


def failed(cause: int, message: str) -> HistoryEvent:
    event = HistoryEvent(event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    event.workflow_task_failed_event_attributes.cause = cause  # type: ignore[assignment]
    event.workflow_task_failed_event_attributes.failure.message = message
    return event


async def truth_after(*newest_first: HistoryEvent) -> Any:
    raw = DescribeWorkflowExecutionResponse(
        workflow_execution_info=WorkflowExecutionInfo(),
        pending_workflow_task=PendingWorkflowTaskInfo(attempt=4),
    )

    async def reverse(_request: Any) -> GetWorkflowExecutionHistoryReverseResponse:
        return GetWorkflowExecutionHistoryReverseResponse(
            history=History(events=list(newest_first))
        )

    client = SimpleNamespace(
        namespace="default",
        data_converter=data_converter(None),
        workflow_service=SimpleNamespace(get_workflow_execution_history_reverse=reverse),
    )
    described = SimpleNamespace(
        raw_description=raw,
        status=WorkflowExecutionStatus.RUNNING,
        task_queue="warroom",
        close_time=None,
        id="inc-x",
        run_id="r1",
    )
    return await run_truth(client, described)  # type: ignore[arg-type]


async def test_a_task_the_server_failed_for_a_new_signal_is_not_a_stall() -> None:
    truth = await truth_after(
        failed(C.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, "UnhandledCommand"),
        failed(C.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, "UnhandledCommand"),
    )
    assert truth.task_failure is None and truth.healthy


async def test_a_task_the_workflow_code_keeps_failing_is_a_stall() -> None:
    truth = await truth_after(
        failed(C.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE, "boom: KeyError"),
    )
    assert truth.task_failure == "boom: KeyError"
    assert truth.task_attempts == 3 and not truth.healthy
