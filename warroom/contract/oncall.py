"""What crosses the Temporal boundary for on call: the schedule workflow's input, its override
update, its queries' questions and answers, and the shift-notice activity's input and result.

Public contract: workflow type `ScheduleWorkflow`, id `oncall-<schedule>`; signal `definition`
(a schedule as in oncall.yaml, sent with signal-with-start by the worker on every start);
updates `override` and `cancel_override`; queries `who_is_on_call`, `shifts`, `state`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from warroom.language.oncall import Name, Override, Schedule

SCHEDULE_WORKFLOW = "ScheduleWorkflow"
#: The activity that tells a person about their shift (activities/oncall_notify.py).
NOTIFY_ACTIVITY = "oncall.notify"
#: The activity that pages one level of an escalation policy (activities/oncall_page.py).
PAGE_ACTIVITY = "oncall.page"
#: The activity that says who is on call for schedules at an instant (approvers `oncall:`).
WHO_ACTIVITY = "oncall.who"
#: Longest range a `shifts` query answers (a bound on the answer's size).
MAX_SHIFT_DAYS = 92


def schedule_workflow_id(schedule: str) -> str:
    return f"oncall-{schedule}"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a reason is required: say why (e.g. swap, sick, holiday)")
    return value.strip()


def _blank_is_none(value: str | None) -> str | None:
    return (value or "").strip() or None


class ScheduleDefinition(BaseModel):
    """A schedule's rules as oncall.yaml has them now (signal `definition`)."""

    schedule: Schedule


class Notice(BaseModel):
    """A shift notice the workflow sent (or tried to): to whom, for which shift, how."""

    person: str
    start: datetime
    end: datetime | None
    kind: Literal["handoff", "override", "cancelled"]
    method: str | None = None
    error: str | None = None
    #: For `cancelled`: the override's id, who cancelled it and why.
    override: str | None = None
    note: str | None = None


class ScheduleInput(BaseModel):
    """The schedule workflow's input; continue-as-new carries the overrides and notices."""

    name: Name
    schedule: Schedule
    overrides: list[Override] = Field(default_factory=list)
    #: Handoffs at or before this instant have had their notice (None: the run's start).
    notified_through: datetime | None = None
    #: Notices for overrides accepted but not sent yet.
    pending: list[Notice] = Field(default_factory=list)
    #: The latest notices sent (at most NOTICES_KEPT), for `state`.
    notices: list[Notice] = Field(default_factory=list)
    next_override: int = 1
    #: History length after which the run continues as new (lower in tests).
    continue_after_events: int = Field(2_000, ge=50)


class OverrideRequest(BaseModel):
    """Update `override`: `who` on call from `start` until `end` instead of the rotation."""

    model_config = ConfigDict(extra="forbid")

    who: Name
    start: AwareDatetime
    end: AwareDatetime
    by: Annotated[str, Field(min_length=1, max_length=100)]
    reason: Annotated[str, Field(max_length=500), AfterValidator(_not_blank)]
    #: Replace the overrides this one overlaps (otherwise an overlap is refused).
    replace: bool = False


class OverrideAccepted(BaseModel):
    override: Override
    replaced: list[Override] = Field(default_factory=list)
    #: Said when the person is not in the schedule's rotation (the override stands).
    warning: str | None = None


class OverrideCancel(BaseModel):
    """Update `cancel_override`: take override `id` away (one that has begun ends now)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=100)]
    by: Annotated[str, Field(min_length=1, max_length=100)]
    reason: Annotated[str | None, Field(max_length=500), AfterValidator(_blank_is_none)] = None


class OnCallAt(BaseModel):
    at: AwareDatetime


class OnCallAnswer(BaseModel):
    """Who is on call for `schedule` at `at` (None: nobody), why, and until when."""

    schedule: str
    at: datetime
    who: str | None
    layer: int | None = None
    override: Override | None = None
    until: datetime | None = None


class ShiftRange(BaseModel):
    start: AwareDatetime
    end: AwareDatetime


class ShiftView(BaseModel):
    start: datetime
    end: datetime
    who: str | None
    layer: int | None = None
    override: Override | None = None


class Shifts(BaseModel):
    schedule: str
    timezone: str
    shifts: list[ShiftView]


class ScheduleState(BaseModel):
    name: str
    schedule: Schedule
    overrides: list[Override]
    notices: list[Notice]
    notified_through: datetime | None


class NotifyInput(BaseModel):
    """Tell `person` about a shift through their first usable contact method."""

    schedule: str
    person: str
    subject: str
    text: str
    #: The same for every attempt: passed on as the idempotency / dedup key.
    key: str


class NotifyResult(BaseModel):
    method: str | None
    #: Methods passed over before it, each with why (e.g. "slack: not available yet").
    skipped: list[str] = Field(default_factory=list)


class PageInput(BaseModel):
    """Page level `level` (1-based) of policy `policy`, in repeat round `round` (0 first)."""

    incident_id: str
    policy: str
    level: int
    round: int = 0
    #: The moment the level fires (the workflow's clock): who is on call then is paged.
    at: datetime
    subject: str
    text: str
    #: The activity's step name on the timeline ("page-<level>"), told by the workflow's records.
    step: str


class Page(BaseModel):
    """One person paged (or tried): how, at which level, and because of what."""

    person: str
    level: int
    method: str | None = None
    #: The schedule whose on-call person this is, and the override that put them there.
    schedule: str | None = None
    override: str | None = None
    group: str | None = None
    #: Methods passed over or failed before `method`, each with why.
    skipped: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        why = (
            f"on call for {self.schedule}"
            + (f", override {self.override}" if self.override else "")
            if self.schedule
            else f"group {self.group}"
            if self.group
            else "named by the policy"
        )
        how = f"by {self.method}" if self.method else "not reached"
        passed = f"; {'; '.join(self.skipped)}" if self.skipped else ""
        return f"level {self.level}: {self.person} {how} ({why}){passed}"


class PageResult(BaseModel):
    pages: list[Page] = Field(default_factory=list)
    #: Schedules a level named that had nobody on call.
    nobody: list[str] = Field(default_factory=list)
    #: What comes next: None when the policy (repeats included) is done.
    next_level: int | None = None
    next_round: int = 0
    next_wait: timedelta | None = None


class WhoInput(BaseModel):
    schedules: list[str]
    at: datetime


class WhoResult(BaseModel):
    #: Schedule → who is on call (None: nobody).
    people: dict[str, str | None]
