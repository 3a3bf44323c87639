"""Escalation through an on-call policy (runbook `escalation: {policy: NAME, ...}`), for
IncidentWorkflow: level by level, each paged by the `oncall.page` activity, which resolves the
level's people when it fires (a handoff during the incident pages the new person), until
someone acknowledges or decides, or the incident closes. Each page is a timeline record.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from warroom.contract.models import Escalated, EscalationProgress, StepState
from warroom.contract.oncall import (
    PAGE_ACTIVITY,
    WHO_ACTIVITY,
    PageInput,
    PageResult,
    WhoInput,
    WhoResult,
)
from workflows.context import IncidentContext

#: Runs that reach an escalation with a policy page through it (new behaviour, new commands).
PATCH_ONCALL_POLICY = "oncall-policy"
#: Runs whose gate names `oncall:SCHEDULE` approvers resolve them when the gate opens.
PATCH_ONCALL_APPROVERS = "oncall-approvers"
#: Prefix of an approver that is whoever is on call for a schedule.
ONCALL_APPROVER = "oncall:"
WHO_TIMEOUT = timedelta(seconds=30)
#: Time given to paging one level (resolving people, every contact method tried in turn).
PAGE_TIMEOUT = timedelta(minutes=2)
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)


async def page_through_policy(
    inc: IncidentContext,
    reason: str,
    until: Callable[[], bool],
    text: Callable[[int], str],
    progress: EscalationProgress | None = None,
) -> None:
    """Page the policy's levels (and repeats) in turn until `until` holds or the incident
    closes; `text(level)` is what each page says. With `progress` (carried over): from its
    level and round on, kept up to date (a page cut off by continuing as new is sent again)."""
    escalation = inc.runbook.escalation
    assert escalation is not None and escalation.policy is not None
    level, round_ = (progress.level, progress.round) if progress is not None else (1, 0)
    while not (until() or inc.state.is_closed):
        try:
            result: PageResult = await workflow.execute_activity(
                PAGE_ACTIVITY,
                PageInput(
                    incident_id=inc.state.incident_id,
                    policy=escalation.policy,
                    level=level,
                    round=round_,
                    at=workflow.now(),
                    subject=f"[{inc.state.severity}] {inc.state.title}: escalation level {level}",
                    text=text(level),
                    step=f"page-{level}",
                ),
                result_type=PageResult,
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=PAGE_RETRY,
                summary=f"page level {level} ({escalation.policy})",
            )
        except ActivityError as err:
            cause = err.cause or err
            inc.record("page failed", detail=f"level {level}: {cause}")
            inc.state.escalations.append(
                Escalated(level=level, at=workflow.now(), reason=reason, delivered=False)
            )
            if progress is not None:
                progress.done = True
            return
        for page in result.pages:
            inc.record("paged", detail=page.describe())
        for schedule in result.nobody:
            inc.record("paged nobody", detail=f"level {level}: nobody is on call for {schedule}")
        delivered = any(p.method for p in result.pages)
        inc.state.escalations.append(
            Escalated(level=level, at=workflow.now(), reason=reason, delivered=delivered)
        )
        if result.next_level is None or result.next_wait is None:
            if progress is not None:
                progress.done = True
            return
        if progress is not None:
            progress.level, progress.round = result.next_level, result.next_round
            progress.due = workflow.now() + result.next_wait
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: until() or inc.state.is_closed,
                timeout=result.next_wait,
                timeout_summary=f"escalation level {result.next_level}",
            )
        level, round_ = result.next_level, result.next_round


async def resolve_oncall_approvers(inc: IncidentContext, state: StepState) -> None:
    """Replace the gate's `oncall:SCHEDULE` approvers by whoever is on call now (asked of the
    schedules by the `oncall.who` activity), kept in the step's state and said on the
    timeline. Nobody on call, or the activity failing, leaves the entry as it is: nobody
    matches it, and another approver (or the escalation) has to decide."""
    wanted = [
        a.removeprefix(ONCALL_APPROVER) for a in state.approvers if a.startswith(ONCALL_APPROVER)
    ]
    if not wanted or not workflow.patched(PATCH_ONCALL_APPROVERS):
        return
    try:
        result: WhoResult = await workflow.execute_activity(
            WHO_ACTIVITY,
            WhoInput(schedules=wanted, at=workflow.now()),
            result_type=WhoResult,
            start_to_close_timeout=WHO_TIMEOUT,
            retry_policy=PAGE_RETRY,
            summary=f"on call: approvers of {state.id}",
        )
    except ActivityError as err:
        inc.record("approvers not resolved", step=state.id, detail=str(err.cause or err))
        return
    state.oncall_approvers = {f"{ONCALL_APPROVER}{k}": v for k, v in result.people.items()}
    resolved = [state.oncall_approvers.get(a) or a for a in state.approvers]
    state.approvers = list(dict.fromkeys(resolved))
    said = ", ".join(f"{k} is {v or 'nobody'}" for k, v in state.oncall_approvers.items())
    inc.record("approvers resolved", step=state.id, detail=said)
