"""The incident's working state inside IncidentWorkflow, and the bookkeeping every room of the
workflow shares: timeline records, status and search attributes, template data, long histories.

Deterministic code only (no clock, environment, randomness or I/O): it is passed through the
workflow sandbox, imported once per worker instead of once per incident.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from warroom.contract import search_attributes as sa
from warroom.contract.models import (
    NOT_FOR_TEMPLATES,
    Abort,
    CarriedState,
    Decision,
    DecisionKind,
    EscalationProgress,
    IncidentInput,
    IncidentState,
    IncidentStatusName,
    Resolve,
    StepCommand,
    StepState,
    StepStatus,
)
from warroom.expressions.dataflow import project
from warroom.language.runbook import ActionRef, RetrySpec
from warroom.language.template_refs import references_in

#: Continue as new past this many history events even when the server does not suggest it
#: (the time-skipping test server never does), well below the 10,240-event warning.
CONTINUE_AFTER_EVENTS = 2_000
#: Patch ids: behaviour that changes the commands of incidents already running.
PATCH_MITIGATED = "status-mitigated"
#: The timeline's own records: approval requested, refused signals, mitigated, rejected on timeout.
PATCH_TIMELINE = "timeline-records"
#: The postmortem draft written through an activity when the incident closes.
PATCH_POSTMORTEM = "postmortem-draft"
#: The commander as a search attribute (IncidentCommander), for lists of incidents.
PATCH_COMMANDER = "commander-attribute"
#: The alert budget: every alert counted, only the first and latest keep their labels, the
#: rest summarised with a timeline record (workflows/alerts.py).
PATCH_ALERT_BUDGET = "alert-budget"
#: "Mitigated" only once a mitigate step succeeded (not when mitigation was skipped).
PATCH_MITIGATION_RAN = "mitigated-after-mitigation"
#: A notification step whose secret is unset is skipped with a warning instead of pausing.
PATCH_UNSET_TARGET = "unset-notification-skipped"
#: A decision's handler that waits for its outcome (abort, resolve, approve, reject, retry,
#: skip) holds the run from continuing as new: the decision is applied in the run that took
#: it. Before, a run due to continue as new waited for that handler, which waited for an
#: outcome only the run could bring: the incident never closed and its caller never heard.
#: And a gate or paused step woken to continue as new does so (`continue_unless`).
PATCH_DECISIONS_FIRST = "decisions-before-continuing"
#: A gate that a run continued as new keeps its approval's timeout from when it was first
#: asked, and a step's escalation (approval timed out, or failed and waiting) goes on where
#: it was. Before, each run asked again, waited the whole timeout again and escalated from
#: level 1 again.
PATCH_APPROVAL_CARRIED = "approval-carried"
#: Lines of "what happened since the last status update" kept (an update quotes the last ten).
SINCE_UPDATE_KEPT = 50


def retry_policy(spec: RetrySpec) -> RetryPolicy:
    return RetryPolicy(
        maximum_attempts=spec.max_attempts,
        initial_interval=spec.initial_interval,
        backoff_coefficient=spec.backoff,
        maximum_interval=spec.max_interval,
        non_retryable_error_types=list(spec.non_retryable) or None,
    )


def referenced(value: Any) -> set[tuple[str, ...]]:
    """Every data path the templates inside `value` (dicts and lists walked) refer to."""
    with workflow.unsafe.imports_passed_through():  # as for `when`: Jinja2's lazy imports
        return references_in(value)


def failure_message(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause or err)


class ContinueAsNew(Exception):
    """Raised inside the run loop at a safe point: the run hands over to a new one."""


class IncidentContext:
    """What one run of the incident knows (carried over from the run before, if any), and the
    operations on it that more than one room needs."""

    def __init__(self, inp: IncidentInput) -> None:
        self.runbook = inp.runbook
        self.input = inp
        carried = inp.carried
        self.state = (
            carried.state.model_copy(deep=True)
            if carried
            else IncidentState.declared(workflow.info().workflow_id, inp, workflow.now())
        )
        self.next_step = carried.next_step if carried else 0
        self.outputs: dict[str, dict[str, Any]] = dict(carried.outputs) if carried else {}
        self.approvals: dict[str, list[Decision]] = dict(carried.approvals) if carried else {}
        self.rejections: dict[str, Decision] = dict(carried.rejections) if carried else {}
        self.commands: dict[str, tuple[DecisionKind, StepCommand]] = (
            dict(carried.commands) if carried else {}
        )
        self.abort: Abort | None = carried.abort if carried else None
        self.resolve: Resolve | None = carried.resolve if carried else None
        self.seen_alerts: set[tuple[str, str, str]] = set(carried.seen_alerts) if carried else set()
        #: Every tracked alert's last state (workflows/alerts.py); None while this run keeps
        #: every alert whole, as runs before the alert budget did.
        self.alert_ledger: dict[str, str] | None = (
            dict(carried.alert_ledger) if carried and carried.alert_ledger is not None else None
        )
        self.next_update_at: datetime | None = carried.next_update_at if carried else None
        self.since_update: list[str] = list(carried.since_update) if carried else []
        #: The acknowledgement escalation's progress (workflows/cadence.py), carried over.
        self.escalation: EscalationProgress | None = carried.escalation if carried else None
        self.params: dict[str, Any] = dict(inp.params)
        self.published: dict[str, str] = {}
        self.severity_changes = 0
        self.skip_mitigation = False
        self.background: list[asyncio.Task[None]] = []
        #: Notifications and compensations running now (the run continues as new only without).
        self.in_flight = 0
        self.continuing = False
        #: Whether this run writes the timeline's own records (a marker in its first task, so
        #: the timeline knows that a signal without a refusal record was applied).
        self.tells = workflow.patched(PATCH_TIMELINE)
        self.lists_commander = workflow.patched(PATCH_COMMANDER)
        self.budgets_alerts = workflow.patched(PATCH_ALERT_BUDGET)
        self.decisions_first = workflow.patched(PATCH_DECISIONS_FIRST)
        self.approvals_carried = workflow.patched(PATCH_APPROVAL_CARRIED)

    # ---- steps ------------------------------------------------------------------------

    def step(self, step_id: str) -> StepState:
        return next(s for s in self.state.steps if s.id == step_id)

    def find_step(self, step_id: str) -> StepState | None:
        return next((s for s in self.state.steps if s.id == step_id), None)

    def finish_step(self, state: StepState, status: StepStatus, **fields: Any) -> None:
        state.status, state.finished_at = status, workflow.now()
        for name, value in fields.items():
            setattr(state, name, value)

    def quorum(self, step_id: str, state: StepState) -> bool:
        return len(self.approvals.get(step_id, [])) >= state.min_approvals

    def ending(self) -> Abort | Resolve | None:
        return self.abort or self.resolve

    # ---- template data ----------------------------------------------------------------

    def template_data(self) -> dict[str, Any]:
        """Everything templates may see (but secrets, which only the worker has)."""
        incident = self.state.model_dump(mode="json", exclude=set(NOT_FOR_TEMPLATES))
        steps = {
            s.id: {"status": s.status, **self.outputs.get(s.id, {})}
            for s in self.state.steps
            if s.status in ("succeeded", "skipped", "failed", "compensated")
        }
        alert = self.state.alerts[0].model_dump(mode="json") if self.state.alerts else {}
        return {"incident": incident, "params": dict(self.params), "steps": steps, "alert": alert}

    def inputs_for(self, ref: ActionRef) -> dict[str, Any]:
        """Only what the action's own templates reference, so that history stays small."""
        return project(self.template_data(), referenced(ref.with_))

    # ---- timeline records ---------------------------------------------------------------

    def record(
        self, event: str, *, step: str | None = None, detail: str = "", actor: str | None = None
    ) -> None:
        """Put something the workflow decided on its own into history, for the timeline.

        A memo upsert is the one command that records data without doing anything else.
        """
        recorded: dict[str, Any] = {"event": event, "step": step, "detail": detail}
        if actor is not None:
            recorded["actor"] = actor
        workflow.upsert_memo({"event": recorded})

    def tell(self, event: str, **fields: Any) -> None:
        """A record the timeline reads that older runs of this code did not write."""
        if self.tells:
            self.record(event, **fields)

    # ---- status -------------------------------------------------------------------------

    def open_status(self) -> IncidentStatusName:
        return "mitigated" if self.state.milestones.mitigated else "active"

    def set_status(self, status: IncidentStatusName) -> None:
        self.state.status = status
        self.publish()

    def close(self, status: IncidentStatusName, outcome: str) -> None:
        s = self.state
        s.outcome, s.closed_at = outcome, workflow.now()
        if status == "resolved":
            s.milestones.resolved = s.closed_at
            if s.milestones.mitigated is None and workflow.patched(PATCH_MITIGATED):
                s.milestones.mitigated = s.closed_at
        self.set_status(status)

    def publish(self) -> None:
        """Keep the search attributes (and the Temporal UI's status line) current; upsert
        only what changed."""
        s = self.state
        wanted = {
            sa.SEVERITY.name: s.severity,
            sa.SERVICE.name: s.service,
            sa.STATUS.name: s.status,
            sa.PHASE.name: s.phase,
            sa.RUNBOOK.name: s.runbook,
        }
        if self.lists_commander and "commander" in s.roles:
            wanted[sa.COMMANDER.name] = s.roles["commander"]
        changed = [
            key.value_set(wanted[key.name])
            for key in sa.ALL
            if key.name in wanted and self.published.get(key.name) != wanted[key.name]
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
            self.published = wanted
        waiting = ", ".join(p.id for p in s.pending_approvals) or "none"
        commander = s.roles.get("commander", "nobody yet")
        workflow.set_current_details(
            f"**{s.status.replace('_', ' ')}** · {s.severity} · phase {s.phase} · "
            f"waiting for approval: {waiting} · commander: {commander}"
        )

    # ---- long incidents -----------------------------------------------------------------

    def long(self) -> bool:
        """Time to continue as new: the history is long, no notification or compensation is
        in flight (it would be cut off, its outcome lost) and no decision waits for its outcome
        (PATCH_DECISIONS_FIRST: this run applies it, then continues)."""
        info = workflow.info()
        long = (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > CONTINUE_AFTER_EVENTS
        )
        decided = not self.decisions_first or workflow.all_handlers_finished()
        return long and self.in_flight == 0 and decided

    def handing_over(self) -> bool:
        """The run is continuing as new (a call in flight holds it a while): a decision that
        arrives now is carried over, and its handler answers with the decision recorded,
        not waiting for an outcome the next run brings (PATCH_DECISIONS_FIRST)."""
        return self.decisions_first and self.continuing

    def continue_unless(self, decided: bool) -> None:
        """After a wait that a person's decision or `long()` ends. With PATCH_DECISIONS_FIRST:
        a decision is applied in this run; without one, the wait ended to continue as new, and
        the run does so even if a call started in the same task since (continuing waits for
        it), instead of going on as if decided (an approval without its quorum, a paused step
        without a command). Before the patch: continue if long now."""
        if not self.decisions_first:
            self.continue_if_long()
        elif not decided:
            raise ContinueAsNew()

    def continue_if_long(self) -> None:
        if self.long() and not self.state.is_closed:
            raise ContinueAsNew()

    def carried(self, next_update_at: datetime) -> CarriedState:
        """Everything the next run needs to go on where this one stopped."""
        return CarriedState(
            state=self.state,
            next_step=self.next_step,
            outputs=self.outputs,
            approvals=self.approvals,
            rejections=self.rejections,
            commands=self.commands,
            abort=self.abort,
            resolve=self.resolve,
            escalation=self.escalation,
            seen_alerts=sorted(self.seen_alerts),
            alert_ledger=self.alert_ledger,
            next_update_at=next_update_at,
            since_update=self.since_update[-SINCE_UPDATE_KEPT:],
        )
