"""Pydantic models that cross the Temporal boundary: workflow input, signals, query state, activity I/O."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    model_validator,
)

from warroom.contract.chat import RoomState
from warroom.language.runbook import Phase, Runbook, Severity

# Limits on what people type. They sit far below the server's own limits (2 MiB per payload,
# 1,000 characters per workflow id), so a message never reaches the server to fail there.
#: Longest person name (`--by`, `declared_by`).
NAME_MAX_CHARS = 100
#: Longest incident summary.
SUMMARY_MAX_CHARS = 2_000
#: Longest free text attached to a decision (comment, reason).
TEXT_MAX_CHARS = 2_000
#: Longest step id a decision may name (runbook step ids are far shorter).
STEP_REF_MAX_CHARS = 200
#: Most characters an alert's labels and annotations take together: an incident keeps every
#: alert that joined it in its state, which a status query returns whole and continue-as-new
#: carries, both under Temporal's 2 MiB payload limit.
ALERT_CONTENT_MAX_CHARS = 32_768
#: Most alerts one `alerts` signal carries (one notification's; a sender's limit too).
ALERTS_PER_SIGNAL = 1_000
#: The incident's alert budget: every alert is counted, but only these keep their labels and
#: annotations in the state (the first to join, and the latest ones), within ALERTS_KEPT_BYTES
#: of JSON; the others are summarised (counted, and said so on the timeline). A status query
#: answers with the state and continue-as-new carries it, both under the 2 MiB payload limit.
#: The latest decisions an incident's state keeps (its history keeps every one; the timeline
#: reads them there): a flood of refused plain signals cannot grow the state without end.
DECISIONS_KEPT = 200
ALERTS_KEPT_FIRST = 100
ALERTS_KEPT_LATEST = 200
ALERTS_KEPT_BYTES = 384 * 1024
#: Most alerts whose state (firing or resolved) an incident tracks one by one: about 25 bytes
#: each in what continue-as-new carries. Alerts beyond are only counted (`alerts_untracked`).
ALERTS_TRACKED_MOST = 40_000
#: Longest service name taken from an alert's `service` label (it becomes a search attribute).
SERVICE_MAX_CHARS = 200


def _printable(value: str) -> str:
    """Refuse control characters (newlines, ESC, ...): they forge rows and drive terminals."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise ValueError(f"must be a single line without control characters (found {bad!r})")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: Who decided or declared: one printable line, non-empty, at most NAME_MAX_CHARS characters.
PersonName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAME_MAX_CHARS),
    AfterValidator(_not_blank),
    AfterValidator(_printable),
]
#: A step named by a decision; the workflow says whether the incident has it.
StepRef = Annotated[
    str, StringConstraints(min_length=1, max_length=STEP_REF_MAX_CHARS), AfterValidator(_printable)
]
#: Free text a person adds to a decision (may span lines; bounded).
Remark = Annotated[str, StringConstraints(max_length=TEXT_MAX_CHARS)]

StepStatus = Literal[
    "pending",
    "awaiting_approval",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "rejected",
    "cancelled",
    # Succeeded, then undone by its `compensate` action when the incident was aborted.
    "compensated",
]
IncidentStatusName = Literal[
    "active",
    "awaiting_approval",
    "paused",
    "mitigated",
    "resolved",
    "aborted",
    # Set by clients, never by the workflow: its workflow task keeps failing ...
    "stalled",
    # ... or the server ended the run without the workflow completing it (Temporal's own
    # execution status).
    "terminated",
    "timed_out",
    "failed",
    "canceled",
    "continued_as_new",
]
ENDED_BY_SERVER: frozenset[str] = frozenset(
    {"terminated", "timed_out", "failed", "canceled", "continued_as_new"}
)
CLOSED_STATUSES: frozenset[str] = frozenset({"resolved", "aborted"}) | ENDED_BY_SERVER


Role = Literal["commander", "comms", "ops"]


class Alert(BaseModel):
    """A normalized alert notification (signal `alert`), whatever system sent it."""

    source: str = "generic"
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: Annotated[str, StringConstraints(max_length=2_048)] = ""

    @model_validator(mode="after")
    def _bounded(self) -> Alert:
        size = sum(len(k) + len(v) for d in (self.labels, self.annotations) for k, v in d.items())
        if size > ALERT_CONTENT_MAX_CHARS:
            raise ValueError(
                f"labels and annotations take {size:,} characters: "
                f"at most {ALERT_CONTENT_MAX_CHARS:,} are kept per alert"
            )
        return self

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        """The same notification delivered twice has the same key; a new state of it does not."""
        starts = self.starts_at.isoformat() if self.starts_at else ""
        return (self.fingerprint, self.status, starts)


class IncidentInput(BaseModel):
    """Workflow input: the whole parsed runbook plus what the declarer said."""

    runbook: Runbook
    summary: Annotated[str, StringConstraints(min_length=1, max_length=SUMMARY_MAX_CHARS)]
    severity: Severity | None = None
    declared_by: PersonName = "unknown"
    #: The service affected, when the runbook does not name one (an alert's `service` label).
    service: Annotated[str, StringConstraints(max_length=SERVICE_MAX_CHARS)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    #: Who may decide each gated step, `group:` names resolved to people before the start
    #: (step id → people, or "*"); a step not listed uses its runbook approvers as written.
    approvers: dict[str, list[str]] = Field(default_factory=dict)
    #: What a continued run carries over from the one before (None for a new incident).
    carried: CarriedState | None = None

    def approvers_of(self, step_id: str) -> list[str]:
        """Who may decide the gate of step `step_id` ([] for a step without one)."""
        step = self.runbook.step(step_id)
        if step is None or step.approval is None:
            return []
        return self.approvers.get(step_id, list(step.approval.approvers))


class HumanDecision(BaseModel):
    """What every human decision carries: who, and until when it may still apply.

    `deadline` (UTC) is enforced by the workflow with workflow time, in the update validator
    and in the signal handler alike: a decision that reaches the workflow later is refused,
    so a caller that gave up waiting can truthfully say it will never apply.
    """

    by: PersonName
    deadline: AwareDatetime | None = None
    #: How `by` was authenticated (`oidc`, `token:<name>`, `session`, `slack`, `loopback`);
    #: None in decisions sent before it was recorded.
    authenticated: str | None = Field(None, max_length=200)


class Decision(HumanDecision):
    """Payload of `approve` / `reject`: {"step": "...", "by": "...", "comment": "..."}."""

    step: StepRef
    comment: Remark = ""


class StepCommand(HumanDecision):
    """Payload of `retry_step` / `skip_step` for a step that failed after its retries."""

    step: StepRef


class Abort(HumanDecision):
    """Payload of `abort`: {"by": "...", "reason": "..."}."""

    reason: Remark = ""


class Acknowledge(HumanDecision):
    """Payload of `acknowledge`: {"by": "..."}; the first to acknowledge becomes commander."""


class Assign(HumanDecision):
    """Payload of `assign`: {"role": "commander|comms|ops", "to": "...", "by": "..."}."""

    role: Role
    to: PersonName


class Note(HumanDecision):
    """Payload of `note`: {"by": "...", "text": "..."}."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_CHARS)]


class SetSeverity(HumanDecision):
    """Payload of `set_severity`: {"severity": "SEV1", "by": "..."}."""

    severity: Severity


class Resolve(HumanDecision):
    """Payload of `resolve`: {"by": "...", "comment": "..."}: the all-clear, by hand."""

    comment: Remark = ""


DecisionKind = Literal[
    "approve",
    "reject",
    "retry",
    "skip",
    "abort",
    "acknowledge",
    "assign",
    "note",
    "severity",
    "resolve",
]


class DecisionRecord(BaseModel):
    """One human decision as the workflow took it: applied, or refused and why."""

    kind: DecisionKind
    by: str
    at: datetime
    via: Literal["signal", "update"]
    step: str | None = None
    comment: str | None = None
    #: None when the decision was accepted; else why it changed nothing.
    refused: str | None = None


class EscalationProgress(BaseModel):
    """Where an escalation stands (nobody acknowledged, an approval timed out, a failed step
    waits): the level (and, for an on-call policy, the round) to notify next and when, or
    done. Carried when a run continues as new, so the next run goes on where this one was."""

    level: int = 1
    round: int = 0
    due: datetime
    done: bool = False


class StepState(BaseModel):
    """What the incident knows about one step."""

    id: str
    phase: Phase
    action: str
    status: StepStatus = "pending"
    attempts: int = 0
    approvers: list[str] = Field(default_factory=list)
    #: `oncall:SCHEDULE` approvers and who was on call when the gate opened (they decide).
    oncall_approvers: dict[str, str | None] = Field(default_factory=dict)
    #: Distinct approvals the gate needs, and who has approved so far.
    min_approvals: int = 1
    approved_by: list[str] = Field(default_factory=list)
    #: How many times the step was started by hand after failing (feeds its idempotency key).
    runs: int = 0
    decided_by: str | None = None
    comment: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: When its approval was first asked for: a run that continues as new keeps the approval's
    #: `timeout` from then (patch `approval-carried`).
    asked_at: datetime | None = None
    #: The escalation of its timed-out approval, or of its failure waiting for a person, where
    #: it stood (carried over with the state; None when none runs).
    escalation: EscalationProgress | None = None


class Milestones(BaseModel):
    """When the incident reached each stage (time to acknowledge / mitigate / resolve)."""

    declared: datetime | None = None
    acknowledged: datetime | None = None
    mitigated: datetime | None = None
    resolved: datetime | None = None


class AlertState(BaseModel):
    """One alert (by fingerprint) that joined the incident."""

    fingerprint: str
    source: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    first_seen: datetime
    last_seen: datetime
    #: Distinct notifications about it (a notification delivered twice counts once).
    notifications: int = 1
    #: Its place among the incident's alerts in the order they joined (1 = the first).
    ordinal: int | None = None


class Escalated(BaseModel):
    """One escalation: which level was notified, when, and why."""

    level: int
    at: datetime
    reason: str
    delivered: bool = True


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
    #: The latest DECISIONS_KEPT human decisions that reached the workflow, accepted or
    #: refused, oldest first; `decisions_not_kept` counts the older ones (in the timeline).
    decisions: list[DecisionRecord] = Field(default_factory=list)
    decisions_not_kept: int = 0
    milestones: Milestones = Field(default_factory=Milestones)
    #: Incident roles (commander, comms, ops) → who holds them.
    roles: dict[str, str] = Field(default_factory=dict)
    #: The alerts that keep their labels: the first ALERTS_KEPT_FIRST to join and the latest
    #: ALERTS_KEPT_LATEST, within ALERTS_KEPT_BYTES (see `alerts_total` for all of them).
    alerts: list[AlertState] = Field(default_factory=list)
    #: Alert notifications received, and how many of them were repeats that counted once.
    alerts_received: int = 0
    alerts_duplicate: int = 0
    #: Every distinct alert (by fingerprint) that joined, how many of them fire now, and how
    #: many are summarised: counted, their labels not kept in `alerts`.
    alerts_total: int = 0
    alerts_firing: int = 0
    alerts_summarised: int = 0
    #: Notifications about alerts beyond ALERTS_TRACKED_MOST: counted, their state not tracked
    #: (the incident then never decides on its own that every alert resolved).
    alerts_untracked: int = 0
    escalations: list[Escalated] = Field(default_factory=list)
    #: The incident's room in Slack (runbook `chat:`), once it has one.
    chat: RoomState | None = None
    #: Temporal's execution status ("running", "completed", "terminated", ...), filled in
    #: by clients: the workflow cannot know that the server ended it.
    execution_status: str = "running"
    #: Why Temporal ended the run when it did not complete normally (terminate reason,
    #: failure message), when it says.
    execution_reason: str | None = None
    #: The open incident is stuck: its workflow task fails on every attempt (a bug, a payload
    #: over the size limit); the failure message and how many attempts failed.
    workflow_task_failure: str | None = None
    workflow_task_attempts: int = 0
    #: "workflow" when the live workflow answered; "history" when no worker could and the
    #: state was read from the workflow history instead (last known, less detail).
    source: Literal["workflow", "history"] = "workflow"

    @model_validator(mode="after")
    def _counted(self) -> IncidentState:
        """States from before the alert counts (older runs) count the alerts they list."""
        if self.alerts_total < len(self.alerts):
            self.alerts_total = len(self.alerts)
            self.alerts_firing = len(self.firing_alerts)
        return self

    @classmethod
    def declared(cls, incident_id: str, inp: IncidentInput, at: datetime) -> IncidentState:
        """The state of an incident just declared with `inp`: every step pending; the approvers
        listed for each gate leave out the declarer, who never counts toward an approval."""
        rb = inp.runbook
        return cls(
            incident_id=incident_id,
            title=rb.title,
            summary=inp.summary,
            runbook=rb.name,
            service=rb.service or inp.service or rb.service_name,
            severity=inp.severity or rb.severity,
            declared_by=inp.declared_by,
            started_at=at,
            milestones=Milestones(declared=at),
            steps=[
                StepState(
                    id=s.id,
                    phase=s.phase,
                    action=s.action,
                    approvers=[a for a in inp.approvers_of(s.id) if a != inp.declared_by],
                    min_approvals=s.approval.min_approvals if s.approval else 1,
                )
                for s in rb.steps
            ],
        )

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def firing_alerts(self) -> list[AlertState]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def pending_approvals(self) -> list[StepState]:
        if self.status != "awaiting_approval":
            return []  # closed or stalled: it waits for nobody, whatever its last step said
        return [s for s in self.steps if s.status == "awaiting_approval"]


class CarriedState(BaseModel):
    """Everything a run hands to the next when it continues as new (long incidents)."""

    state: IncidentState
    #: Index of the step to run next (the one it was waiting at, if any).
    next_step: int
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Accepted, not yet applied decisions: approvals per step, commands, an abort.
    approvals: dict[str, list[Decision]] = Field(default_factory=dict)
    rejections: dict[str, Decision] = Field(default_factory=dict)
    commands: dict[str, tuple[DecisionKind, StepCommand]] = Field(default_factory=dict)
    abort: Abort | None = None
    resolve: Resolve | None = None
    #: Notifications already counted (fingerprint, status, starts_at), by runs that kept
    #: every alert (older code); newer ones carry `alert_ledger` instead.
    seen_alerts: list[tuple[str, str, str]] = Field(default_factory=list)
    #: Every tracked alert's last state: a digest of its fingerprint → its status ("f" or "r")
    #: and a digest of its starts_at. None from runs that kept every alert.
    alert_ledger: dict[str, str] | None = None
    #: When the next status update is due.
    next_update_at: datetime | None = None
    #: What happened since the last status update, one line each.
    since_update: list[str] = Field(default_factory=list)
    #: The escalation for want of an acknowledgement, where it stood (runs with patch
    #: `escalation-carried`; None from older runs and before one started).
    escalation: EscalationProgress | None = None


#: IncidentState fields that templates never see: bulky (steps come as `steps`, decisions)
#: or known only to clients.
NOT_FOR_TEMPLATES: frozenset[str] = frozenset(
    {
        "steps",
        "decisions",
        "alerts",
        "escalations",
        "chat",
        "execution_status",
        "execution_reason",
        "workflow_task_failure",
        "workflow_task_attempts",
        "source",
    }
)


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
    #: The same for every attempt of this step in this incident (and a new one when a person
    #: starts it again): actions pass it on (`Idempotency-Key`) so that a retried call after a
    #: worker crash does not act twice on systems that honour it.
    idempotency_key: str = ""


class ActionResult(BaseModel):
    """Base of every action's result; `attempt` says which attempt produced it."""

    attempt: int = 1


class StoredResult(ActionResult):
    """What a step's activity returns into history: its `outputs` when it declares them, else the
    action's result (cut to a size limit). Later steps see it as `steps.<id>`."""

    result: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None


IncidentInput.model_rebuild()
