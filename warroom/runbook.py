"""The runbook model: what a YAML runbook may say, validated strictly (unknown keys are errors).

Pure pydantic: the workflow imports it, so it does no I/O. Loading YAML and checking
action parameters lives in `warroom.runbook_loader`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warroom.durations import Duration, format_duration

Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
Phase = Literal["triage", "mitigate", "verify", "recover", "communicate"]

#: Phases that run in this order; `communicate` steps may stand anywhere.
PHASE_ORDER: tuple[Phase, ...] = ("triage", "mitigate", "verify", "recover")

SLUG = r"^[a-z0-9][a-z0-9_-]*$"

DEFAULT_CADENCE: dict[Severity, timedelta] = {
    "SEV1": timedelta(minutes=15),
    "SEV2": timedelta(hours=1),
    "SEV3": timedelta(hours=4),
}


class StepProblem(ValueError):
    """A problem with one step that only the whole runbook shows; `loc` says where it is."""

    def __init__(self, message: str, index: int, key: str) -> None:
        super().__init__(message)
        self.loc: tuple[str | int, ...] = ("steps", index, key)


class Strict(BaseModel):
    """Base of runbook models: unknown keys are errors; `with` is spelled `with` in YAML."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class RetrySpec(Strict):
    """How often and how patiently a step's action is retried."""

    max_attempts: int = Field(3, ge=1, le=100)
    initial_interval: Duration = timedelta(seconds=1)
    backoff: float = Field(2.0, ge=1.0, le=10.0)
    max_interval: Duration = timedelta(minutes=1)

    @model_validator(mode="after")
    def _intervals_in_order(self) -> RetrySpec:
        if self.max_interval < self.initial_interval:
            raise ValueError(
                f"max_interval ({format_duration(self.max_interval)}) is shorter than "
                f"initial_interval ({format_duration(self.initial_interval)}): "
                "raise max_interval or lower initial_interval"
            )
        return self


#: The named retry policies a step may refer to with `retry: NAME`.
RETRY_POLICIES: dict[str, RetrySpec] = {
    "default": RetrySpec(),
    "none": RetrySpec(max_attempts=1),
    "patient": RetrySpec(
        max_attempts=10,
        initial_interval=timedelta(seconds=5),
        max_interval=timedelta(minutes=5),
    ),
    # Status updates: a few quick tries, then give up without disturbing the incident.
    "update": RetrySpec(max_attempts=3, initial_interval=timedelta(seconds=2)),
}


class ActionRef(Strict):
    """An action and its parameters; string values may be Jinja2 templates."""

    # `exec` (and the workflow-side `wait`, `note`) have no dot; the rest are `family.verb`.
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class Approval(Strict):
    """A human gate before a risky step: who may approve, and how long to wait."""

    approvers: list[str] = Field(min_length=1)
    timeout: Duration | None = None


class Step(ActionRef):
    """One runbook step: an action run as a retryable Temporal activity."""

    id: str = Field(pattern=SLUG)
    phase: Phase
    approval: Approval | None = None
    retry: RetrySpec = RETRY_POLICIES["default"]
    timeout: Duration = timedelta(seconds=30)

    @field_validator("retry", mode="before")
    @classmethod
    def _named_retry(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in RETRY_POLICIES:
                names = ", ".join(RETRY_POLICIES)
                raise ValueError(f"unknown retry policy {value!r}: use one of {names}")
            return RETRY_POLICIES[value]
        return value


class Runbook(Strict):
    """A whole runbook: the workflow input carries it, so a running incident keeps its runbook."""

    name: str = Field(pattern=SLUG)
    title: str = Field(min_length=1)
    service: str | None = None
    severity: Severity = "SEV2"
    cadence: dict[Severity, Duration] = Field(default_factory=lambda: dict(DEFAULT_CADENCE))
    updates: list[ActionRef] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    @field_validator("cadence")
    @classmethod
    def _merge_default_cadence(cls, value: dict[Severity, timedelta]) -> dict[Severity, timedelta]:
        return {**DEFAULT_CADENCE, **value}

    @model_validator(mode="after")
    def _check_steps(self) -> Runbook:
        seen: set[str] = set()
        furthest: Phase = "triage"
        for index, step in enumerate(self.steps):
            if step.id in seen:
                raise StepProblem(
                    f"step id {step.id!r} is used twice: give each step its own id", index, "id"
                )
            seen.add(step.id)
            if step.phase == "communicate":
                continue
            if PHASE_ORDER.index(step.phase) < PHASE_ORDER.index(furthest):
                raise StepProblem(
                    f"step {step.id!r} (phase {step.phase}) comes after a {furthest} step: "
                    "phases run in order triage → mitigate → verify → recover, "
                    "so move it up or change its phase",
                    index,
                    "phase",
                )
            furthest = step.phase
        return self

    @property
    def service_name(self) -> str:
        return self.service or self.name

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)
