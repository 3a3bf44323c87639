"""ScheduleWorkflow: one long-lived workflow per on-call schedule (id `oncall-<schedule>`).

It holds the schedule's overrides (durable decisions, validated as they arrive), answers who is
on call and the shifts of a range by query, and tells each incoming person about their shift
with its own timers, at each handoff, so a worker restart misses no notice and sends none twice.
The worker sends the current oncall.yaml rules with signal-with-start on every start (signal
`definition`), so a changed file reaches a running schedule then. The run continues as new when
its history grows, carrying overrides, pending notices and how far notices have gone.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contract.oncall import (
        MAX_SHIFT_DAYS,
        NOTIFY_ACTIVITY,
        SCHEDULE_WORKFLOW,
        Notice,
        NotifyInput,
        NotifyResult,
        OnCallAnswer,
        OnCallAt,
        OverrideAccepted,
        OverrideCancel,
        OverrideRequest,
        ScheduleDefinition,
        ScheduleInput,
        ScheduleState,
        ShiftRange,
        Shifts,
        ShiftView,
    )
    from warroom.language.oncall import Override
    from warroom.language.oncall_time import ScheduleClock, Shift, local_text

#: How far ahead the workflow looks for the next handoff (it looks again when nothing is due).
LOOKAHEAD = timedelta(days=35)
#: Overrides that ended longer ago than this are dropped when the run continues as new.
KEEP_PAST = timedelta(days=14)
#: Notices kept in the state (the latest).
NOTICES_KEPT = 50
NOTIFY_TIMEOUT = timedelta(seconds=60)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)


@workflow.defn(name=SCHEDULE_WORKFLOW)
class ScheduleWorkflow:
    @workflow.init
    def __init__(self, inp: ScheduleInput) -> None:
        self.name = inp.name
        self.schedule = inp.schedule
        self.clock = ScheduleClock(inp.schedule)
        self.overrides = list(inp.overrides)
        self.notified_through = inp.notified_through
        self.pending = list(inp.pending)
        self.notices = list(inp.notices)
        self.next_override = inp.next_override
        self.continue_after = inp.continue_after_events
        #: Bumped by every change of the rules or the overrides: the timer re-arms.
        self.changes = 0

    @workflow.run
    async def run(self, inp: ScheduleInput) -> None:
        if self.notified_through is None:
            self.notified_through = workflow.now()
        while True:
            while self.pending:
                await self._send(self.pending[0])
                self.pending.pop(0)
            now = workflow.now()
            current = self._current_shift(now)
            if current is not None and current.start > self.notified_through:
                await self._handoff(current)
                continue
            if self._should_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carried(now))
            epoch = self.changes
            upcoming = self._next_handoff(now)
            wait = (upcoming - now) if upcoming else LOOKAHEAD
            with contextlib.suppress(TimeoutError):  # the handoff is due
                await workflow.wait_condition(
                    lambda: self.changes != epoch or bool(self.pending),  # noqa: B023
                    timeout=max(wait, timedelta(seconds=1)),
                    timeout_summary=f"next handoff of {self.name}",
                )

    # ---- messages ---------------------------------------------------------------------

    @workflow.signal
    def definition(self, new: ScheduleDefinition) -> None:
        """The schedule's rules as oncall.yaml has them now (sent on every worker start)."""
        if new.schedule != self.schedule:
            self.schedule = new.schedule
            self.clock = ScheduleClock(new.schedule)
            self.changes += 1

    @workflow.update
    def override(self, request: OverrideRequest) -> OverrideAccepted:
        replaced = self._overlapping(request)
        self.overrides = [o for o in self.overrides if o not in replaced]
        override = Override(
            id=f"o{self.next_override}",
            who=request.who,
            start=request.start,
            end=request.end,
            by=request.by,
            reason=request.reason,
        )
        self.next_override += 1
        self.overrides.append(override)
        self.overrides.sort(key=lambda o: o.start)
        self.pending.append(
            Notice(person=override.who, start=override.start, end=override.end, kind="override")
        )
        self.changes += 1
        warning = None
        if request.who not in self.schedule.members():
            warning = (
                f"{request.who} is not in {self.name}'s rotation; the override stands "
                f"(members: {', '.join(self.schedule.members())})"
            )
        return OverrideAccepted(override=override, replaced=replaced, warning=warning)

    @override.validator
    def _check_override(self, request: OverrideRequest) -> None:
        if request.end <= request.start:
            raise ValueError(
                f"the override ends ({request.end.isoformat()}) before it starts "
                f"({request.start.isoformat()}): give --until after --from"
            )
        if request.end <= workflow.now():
            raise ValueError(
                f"the override is entirely in the past (it ended {request.end.isoformat()}): "
                "nothing to change"
            )
        clash = self._overlapping(request)
        if clash and not request.replace:
            described = "; ".join(
                f"{o.id}: {o.who} from {o.start.isoformat()} until {o.end.isoformat()} ({o.reason})"
                for o in clash
            )
            raise ValueError(
                f"the override overlaps {described}: replace it (--replace) or pick other times"
            )

    @workflow.update
    def cancel_override(self, request: OverrideCancel) -> Override:
        """Take an override away: one not begun is removed, one that has begun ends now (the
        shift goes back to the rotation, whose person the run loop tells). The person it put
        on call is told. Answers the override as it was."""
        now = workflow.now()
        cancelled = self._override(request.id)
        assert cancelled is not None  # the validator refused an unknown id
        self.overrides.remove(cancelled)
        if cancelled.start < now:
            self.overrides.append(cancelled.model_copy(update={"end": now}))
            self.overrides.sort(key=lambda o: o.start)
        why = f": {request.reason}" if request.reason else ""
        self.pending.append(
            Notice(
                person=cancelled.who,
                start=max(cancelled.start, now),
                end=cancelled.end,
                kind="cancelled",
                override=cancelled.id,
                note=f"override {cancelled.id} was cancelled by {request.by}{why}",
            )
        )
        self.changes += 1
        return cancelled

    @cancel_override.validator
    def _check_cancel(self, request: OverrideCancel) -> None:
        found = self._override(request.id)
        if found is None:
            known = ", ".join(
                f"{o.id} ({o.who} until {o.end.isoformat()})"
                for o in self.overrides
                if o.end > workflow.now()
            )
            raise ValueError(
                f"no override {request.id} in {self.name}: "
                + (f"the ones not ended are {known}" if known else "it has none that has not ended")
            )
        if found.end <= workflow.now():
            raise ValueError(
                f"override {found.id} ({found.who}) already ended at {found.end.isoformat()}: "
                "nothing to cancel"
            )

    @workflow.query
    def who_is_on_call(self, question: OnCallAt) -> OnCallAnswer:
        answer = self.clock.on_call(question.at, self.overrides)
        following = self.clock.shifts(question.at, question.at + LOOKAHEAD, self.overrides)
        until = next((s.start for s in following if s.who != answer.who), None)
        return OnCallAnswer(
            schedule=self.name,
            at=question.at,
            who=answer.who,
            layer=answer.layer,
            override=self._override(answer.override),
            until=until,
        )

    @workflow.query
    def shifts(self, question: ShiftRange) -> Shifts:
        end = min(question.end, question.start + timedelta(days=MAX_SHIFT_DAYS))
        listed = self.clock.shifts(question.start, end, self.overrides)
        return Shifts(
            schedule=self.name,
            timezone=self.schedule.timezone,
            shifts=[
                ShiftView(
                    start=s.start,
                    end=s.end,
                    who=s.who,
                    layer=s.layer,
                    override=self._override(s.override),
                )
                for s in listed
            ],
        )

    @workflow.query
    def state(self) -> ScheduleState:
        return ScheduleState(
            name=self.name,
            schedule=self.schedule,
            overrides=self.overrides,
            notices=self.notices,
            notified_through=self.notified_through,
        )

    # ---- handoffs and notices ------------------------------------------------------------

    def _overlapping(self, request: OverrideRequest) -> list[Override]:
        return [o for o in self.overrides if o.start < request.end and request.start < o.end]

    def _override(self, override_id: str | None) -> Override | None:
        return next((o for o in self.overrides if o.id == override_id), None)

    def _person_shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """Shifts by person: consecutive shifts of the same person joined (no handoff there)."""
        joined: list[Shift] = []
        for shift in self.clock.shifts(start, end, self.overrides):
            if joined and joined[-1].who == shift.who:
                joined[-1] = Shift(joined[-1].start, shift.end, shift.who)
            else:
                joined.append(shift)
        return joined

    def _current_shift(self, now: datetime) -> Shift | None:
        """The shift of the person on call now, when it began within the last LOOKAHEAD
        (None for one that began earlier: its handoff is long past)."""
        since = now - LOOKAHEAD
        listed = self._person_shifts(since, now + LOOKAHEAD)
        return next((s for s in listed if since < s.start <= now < s.end), None)

    def _next_handoff(self, now: datetime) -> datetime | None:
        listed = self._person_shifts(now, now + LOOKAHEAD)
        return listed[1].start if len(listed) > 1 else None

    async def _handoff(self, shift: Shift) -> None:
        self.notified_through = shift.start
        if shift.who is not None:
            ends = shift.end if shift.end < workflow.now() + LOOKAHEAD else None
            await self._send(Notice(person=shift.who, start=shift.start, end=ends, kind="handoff"))

    def _worded(self, notice: Notice) -> tuple[str, str]:
        """The notice's text and its idempotency key (the same for every attempt)."""
        tz = self.schedule.timezone
        until = f" until {local_text(notice.end, tz)}" if notice.end else ""
        when = f"{self.name} from {local_text(notice.start, tz)}{until}"
        if notice.kind == "cancelled":
            key = f"{self.name}:cancelled:{notice.override}:{notice.start.isoformat()}"
            return f"You are no longer on call for {when}: {notice.note}.", key
        text = f"You are on call for {when}."
        if notice.kind == "override":
            text += " (an override changed your shifts)"
        return text, f"{self.name}:{notice.kind}:{notice.start.isoformat()}:{notice.person}"

    async def _send(self, notice: Notice) -> None:
        text, key = self._worded(notice)
        try:
            result: NotifyResult = await workflow.execute_activity(
                NOTIFY_ACTIVITY,
                NotifyInput(
                    schedule=self.name,
                    person=notice.person,
                    subject=f"On call: {self.name}",
                    text=text,
                    key=key,
                ),
                result_type=NotifyResult,
                start_to_close_timeout=NOTIFY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
                summary=f"shift notice: {notice.person}",
            )
            sent = notice.model_copy(update={"method": result.method})
        except ActivityError as exc:
            cause = exc.cause or exc
            sent = notice.model_copy(update={"error": str(cause)[:300]})
        self.notices = [*self.notices, sent][-NOTICES_KEPT:]

    # ---- continue-as-new -----------------------------------------------------------------

    def _should_continue(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() > self.continue_after
            or info.is_continue_as_new_suggested()
        )

    def _carried(self, now: datetime) -> ScheduleInput:
        return ScheduleInput(
            name=self.name,
            schedule=self.schedule,
            overrides=[o for o in self.overrides if o.end > now - KEEP_PAST],
            notified_through=self.notified_through,
            pending=self.pending,
            notices=self.notices,
            next_override=self.next_override,
            continue_after_events=self.continue_after,
        )
