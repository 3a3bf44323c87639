"""Status updates on a durable timer at the current severity's cadence, and escalation when
nobody acknowledges or decides, for IncidentWorkflow.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError

from warroom.contract.models import ActionInput, Escalated, EscalationProgress
from warroom.expressions.dataflow import project
from warroom.language.durations import format_duration
from warroom.language.runbook import RETRY_POLICIES, ActionRef
from workflows.context import IncidentContext, referenced, retry_policy
from workflows.paging import PATCH_ONCALL_POLICY, page_through_policy

#: Time given to one notification post (status update or escalation), retries included.
UPDATE_TIMEOUT = timedelta(seconds=30)
#: An escalation level's `wait` is the wait before that level (after the level before it);
#: runs started before read it as the wait after the level, before the next one.
PATCH_ESCALATION_WAIT = "escalation-wait-before-level"
#: The escalation for want of an acknowledgement goes on where it was when the run continues
#: as new (its progress carried). Before, each run waited `acknowledge_within` again and
#: started over at level 1: in an alert storm, level 1 again and again, level 2 never.
PATCH_ESCALATION_CARRIED = "escalation-carried"


class Cadence:
    """The status-update timer and the escalation levels of one incident run."""

    def __init__(self, incident: IncidentContext) -> None:
        self.incident = incident

    async def cadence_loop(self) -> None:
        inc = self.incident
        while not inc.state.is_closed:
            epoch = inc.severity_changes  # a change re-arms the timer for the new severity
            interval = inc.runbook.cadence.get(inc.state.severity)
            if inc.next_update_at is not None:  # carried over from the run before
                interval = max(inc.next_update_at - workflow.now(), timedelta(seconds=1))
                inc.next_update_at = None
            try:
                await workflow.wait_condition(
                    lambda: inc.state.is_closed or inc.severity_changes != epoch,  # noqa: B023
                    timeout=interval,
                    timeout_summary="next status update",
                )
            except TimeoutError:
                if not inc.continuing:  # the next run posts it
                    await self.post_updates("cadence")

    async def post_updates(self, kind: Literal["cadence", "final"]) -> None:
        inc = self.incident
        text = self._update_text(kind)
        inc.since_update = []
        posted = await self._notify(inc.runbook.updates, "update", kind, text)
        inc.state.updates_posted += posted
        inc.state.updates_failed += len(inc.runbook.updates) - posted

    async def _notify(self, targets: list[ActionRef], prefix: str, kind: str, text: str) -> int:
        """Post `text` to each target (an action taking `text`); how many went out. A lost
        notification never stops the incident."""
        inc = self.incident
        data = {**inc.template_data(), "update": {"kind": kind, "text": text}}
        posted = 0
        for number, target in enumerate(targets, start=1):
            params = {"text": "{{ update.text }}", **target.with_}
            inc.in_flight += 1
            try:
                await workflow.execute_activity(
                    target.action,
                    ActionInput(
                        incident_id=inc.state.incident_id,
                        step=f"{prefix}-{number}",
                        params=params,
                        # The kind too, so the timeline can tell cadence from final updates.
                        context=project(data, referenced(params) | {("update", "kind")}),
                    ),
                    result_type=dict,
                    start_to_close_timeout=UPDATE_TIMEOUT,
                    retry_policy=retry_policy(RETRY_POLICIES["update"]),
                    summary=f"{'status update' if prefix == 'update' else prefix} ({kind}) #{number}",
                )
                posted += 1
            except ActivityError as err:
                workflow.logger.warning("%s %s failed: %s", prefix, number, err.cause)
            finally:
                inc.in_flight -= 1
        return posted

    def _update_text(self, kind: str) -> str:
        inc = self.incident
        s = inc.state
        line = f"[{s.severity}] {s.title} ({s.incident_id}): {s.status.replace('_', ' ')}"
        if s.is_closed:
            return f"{line} — {s.outcome}"
        done = sum(1 for st in s.steps if st.status in ("succeeded", "skipped"))
        parts = [f"{line}, phase {s.phase}, {done}/{len(s.steps)} steps done"]
        elapsed = workflow.now() - s.started_at
        parts.append(
            f"declared {format_duration(timedelta(seconds=int(elapsed.total_seconds())))} ago"
        )
        if s.pending_approvals:
            parts.append("waiting for approval: " + ", ".join(p.id for p in s.pending_approvals))
        if kind == "cadence" and inc.since_update:
            parts.append("since the last update: " + "; ".join(inc.since_update[-10:]))
        return ". ".join(parts)

    async def acknowledge_or_escalate(self) -> None:
        inc = self.incident
        escalation = inc.runbook.escalation
        if escalation is None:
            return

        def acknowledged() -> bool:
            return inc.state.milestones.acknowledged is not None or inc.state.is_closed

        reason = f"not acknowledged within {format_duration(escalation.acknowledge_within)}"
        if workflow.patched(PATCH_ESCALATION_CARRIED):
            # Where the run before left it; else `acknowledge_within` after the declaration.
            # (A run before this patch carries none: its escalation starts over, as it did.)
            if inc.escalation is None:
                declared = inc.state.milestones.declared or workflow.now()
                inc.escalation = EscalationProgress(due=declared + escalation.acknowledge_within)
            await self._resume(reason, acknowledged, inc.escalation, "acknowledge within")
            return
        try:
            await workflow.wait_condition(
                acknowledged,
                timeout=escalation.acknowledge_within,
                timeout_summary="acknowledge within",
            )
        except TimeoutError:
            await self._escalate(reason, acknowledged)

    async def _due(
        self, progress: EscalationProgress, until: Callable[[], bool], summary: str
    ) -> bool:
        """Wait for `progress.due` unless `until` holds first (or the incident closes): whether
        the next level is to be notified now."""
        inc = self.incident
        remaining = progress.due - workflow.now()
        if remaining > timedelta(0) and not (until() or inc.state.is_closed):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: until() or inc.state.is_closed,
                    timeout=remaining,
                    timeout_summary=summary,
                )
        return not (until() or inc.state.is_closed)

    async def _resume(
        self,
        reason: str,
        until: Callable[[], bool],
        progress: EscalationProgress,
        summary: str = "escalation",
    ) -> None:
        """An escalation from where `progress` stands: its next level when due."""
        if not progress.done and await self._due(progress, until, summary):
            await self._escalate(reason, until, progress)

    def escalate_in_background(
        self, reason: str, until: Callable[[], bool], progress: EscalationProgress | None = None
    ) -> None:
        """Escalate while the incident goes on; with `progress` (carried over), from there."""
        inc = self.incident
        if inc.runbook.escalation is not None:
            inc.background.append(
                asyncio.create_task(
                    self._escalate(reason, until)
                    if progress is None
                    else self._resume(reason, until, progress)
                )
            )

    async def _escalate(
        self, reason: str, until: Callable[[], bool], progress: EscalationProgress | None = None
    ) -> None:
        """Notify the escalation levels in turn, until `until` holds (acknowledged, decided)
        or the incident closes: level 1 at once, each next one after its own `wait`. With
        `progress` (the acknowledgement escalation, carried over): from its level on, and
        kept up to date."""
        inc = self.incident
        escalation = inc.runbook.escalation
        if escalation is None:
            return
        if escalation.policy is not None and workflow.patched(PATCH_ONCALL_POLICY):
            await page_through_policy(
                inc,
                reason,
                until,
                lambda n: f"ESCALATION level {n}: {reason}. {self._update_text('escalation')}",
                progress,
            )
            return
        levels = escalation.levels or []
        first = progress.level if progress is not None else 1  # the levels before: notified
        for number, level in enumerate(levels[first - 1 :], start=first):
            if until() or inc.state.is_closed:
                return
            text = f"ESCALATION level {number}: {reason}. {self._update_text('escalation')}"
            delivered = await self._notify(level.notify, "escalation", f"level {number}", text)
            inc.state.escalations.append(
                Escalated(level=number, at=workflow.now(), reason=reason, delivered=delivered > 0)
            )
            inc.record("escalation sent", detail=f"level {number}: {reason}")
            if number == len(levels):
                if progress is not None:
                    progress.done = True
                return
            # Runs started before the patch waited the notified level's `wait` instead.
            wait = levels[number].wait if workflow.patched(PATCH_ESCALATION_WAIT) else level.wait
            if progress is not None:
                progress.level, progress.due = number + 1, workflow.now() + wait
                if not await self._due(progress, until, f"escalation level {number + 1}"):
                    return
                continue
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: until() or inc.state.is_closed,
                    timeout=wait,
                    timeout_summary=f"escalation level {number + 1}",
                )
