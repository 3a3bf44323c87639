"""Pydantic models that cross the Temporal boundary: workflow input, signals, query state, activity I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from warroom.runbook import Phase, Runbook, Severity

StepStatus = Literal[
    "pending",
    "awaiting_approval",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "rejected",
    "cancelled",
]
IncidentStatusName = Literal["active", "awaiting_approval", "paused", "resolved", "aborted"]
CLOSED_STATUSES: frozenset[str] = frozenset({"resolved", "aborted"})


class IncidentInput(BaseModel):
    """Workflow input: the whole parsed runbook plus what the declarer said."""

    runbook: Runbook
    summary: str
    severity: Severity | None = None
    declared_by: str = "unknown"
    params: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    """Payload of `approve` / `reject`: {"step": "...", "by": "...", "comment": "..."}."""

    step: str = Field(min_length=1)
    by: str = Field(min_length=1)
    comment: str = ""


class StepCommand(BaseModel):
    """Payload of `retry_step` / `skip_step` for a step that failed after its retries."""

    step: str = Field(min_length=1)
    by: str = Field(min_length=1)


class Abort(BaseModel):
    """Payload of `abort`: {"by": "...", "reason": "..."}."""

    by: str = Field(min_length=1)
    reason: str = ""


class StepState(BaseModel):
    """What the incident knows about one step."""

    id: str
    phase: Phase
    action: str
    status: StepStatus = "pending"
    attempts: int = 0
    approvers: list[str] = Field(default_factory=list)
    decided_by: str | None = None
    comment: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class IncidentState(BaseModel):
    """Answer of the `status` query (and of `warroom show --json`)."""

    incident_id: str
    title: str
    summary: str
    runbook: str
    service: str
    severity: Severity
    status: IncidentStatusName = "active"
    phase: Phase = "triage"
    declared_by: str
    started_at: datetime
    closed_at: datetime | None = None
    outcome: str | None = None
    updates_posted: int = 0
    updates_failed: int = 0
    steps: list[StepState]

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def pending_approvals(self) -> list[StepState]:
        return [s for s in self.steps if s.status == "awaiting_approval"]


class ActionInput(BaseModel):
    """Input of every action activity: raw (templated) parameters plus the data they may use.

    Templates are rendered on the worker, inside the activity, so resolved secrets never
    enter workflow history.
    """

    incident_id: str
    step: str
    params: dict[str, Any]
    context: dict[str, Any]
    #: The step's `outputs` (name → template over `result`): what its stored result keeps.
    outputs: dict[str, str] = Field(default_factory=dict)


class ActionResult(BaseModel):
    """Base of every action's result; `attempt` says which attempt produced it."""

    attempt: int = 1


class StoredResult(ActionResult):
    """What a step's activity returns into history: its `outputs` when it declares them, else the
    action's result (cut to a size limit). Later steps see it as `steps.<id>`."""

    result: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
