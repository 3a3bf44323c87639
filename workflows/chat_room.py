"""The incident room in Slack, for IncidentWorkflow: a background task that opens the room
(channel, topic, people, pinned card), keeps the card and the step messages (approve / reject,
retry / skip) in step with the incident, posts a status update in the channel at the
severity's cadence, and at the close posts the final card and archives
or renames the channel. Every Slack call is an activity; the channel and the messages' `ts`
live in the incident's state (`state.chat`), so a restarted worker or the next run edits the
same messages. A Slack error retrying cannot fix stops the room with a timeline record; the
incident goes on.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from warroom.contract.chat import (
    CARD,
    CLOSE,
    OPEN,
    POST,
    STEP,
    Card,
    CloseRoom,
    OpenedRoom,
    OpenRoom,
    RoomState,
    StatusPost,
    StepMessage,
    StepPosted,
)
from warroom.contract.models import StepState
from warroom.language.durations import format_duration
from warroom.language.runbook import SlackRoom
from workflows.context import IncidentContext, failure_message

#: The patch that gives runbooks with `chat:` their room.
PATCH_CHAT_ROOM = "chat-room"
#: One Slack call: a few retries (429 honours Retry-After), bounded, so a Slack outage delays
#: the room by at most SLACK_GIVE_UP per call and never holds up the incident.
SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
    non_retryable_error_types=["NotFoundError"],
)
#: One attempt (a few Slack calls): a worker that died in one is replaced within this.
SLACK_ATTEMPT = timedelta(seconds=10)
SLACK_GIVE_UP = timedelta(minutes=3)


def chat_room_wanted(incident: IncidentContext) -> bool:
    """Whether this incident has a Slack room (its runbook says `chat: {slack: …}`)."""
    chat = incident.runbook.chat
    return chat is not None and chat.slack is not None and workflow.patched(PATCH_CHAT_ROOM)


class ChatRoom:
    """The room of one incident run (what it made is in `state.chat`, carried to the next)."""

    def __init__(self, incident: IncidentContext) -> None:
        self.incident = incident
        chat = incident.runbook.chat
        assert chat is not None and chat.slack is not None
        self.spec: SlackRoom = chat.slack
        self.room = incident.state.chat = incident.state.chat or RoomState()
        #: What each message shows now (this run's memory; the next run edits once more).
        self._shown: dict[str, Any] = {}

    async def run(self) -> None:
        room = self.room
        if room.stopped or room.closed:
            return
        try:
            if room.channel is None:
                opening = self._open_input()
                opened = await self._call(OPEN, opening, OpenedRoom, "open")
                self._shown["topic"] = (opening.severity, opening.status, None)
                room.channel, room.name = opened.channel, opened.name
                workflow.upsert_memo({"slack_channel": opened.channel})
                self.incident.record("chat room opened", detail=f"Slack #{opened.name}")
            while True:
                # What this sync shows: a change while it runs is shown by the next one.
                seen, closing = self._view(), self.incident.state.is_closed
                await self._sync()
                if closing:
                    break
                try:
                    await workflow.wait_condition(
                        lambda: self._view() != seen or self.incident.state.is_closed,  # noqa: B023
                        timeout=self._until_update(),
                        timeout_summary="next status update in Slack",
                    )
                except TimeoutError:
                    await self._post_update()
            if self.spec.creates and self.spec.at_close != "keep":
                close = CloseRoom(
                    channel=room.channel, name=room.name or "", at_close=self.spec.at_close
                )
                await self._call(CLOSE, close, None, "close")
            room.closed = True
        except ActivityError as err:
            room.stopped = failure_message(err)
            self.incident.record("chat room stopped", detail=room.stopped)

    # ---- status updates on cadence ----------------------------------------------------

    def _until_update(self) -> timedelta:
        """Time until the next status update in the channel, at the current severity's
        cadence (a change of severity to a shorter one brings it closer)."""
        room, now = self.room, workflow.now()
        interval = self.incident.runbook.cadence.get(
            self.incident.state.severity, timedelta(hours=1)
        )
        if room.next_update is None or room.next_update > now + interval:
            room.next_update = now + interval
        return max(room.next_update - now, timedelta(seconds=1))

    async def _post_update(self) -> None:
        s, room = self.incident.state, self.room
        assert room.channel is not None
        room.next_update = None
        waiting = ", ".join(p.id for p in s.pending_approvals) or "none"
        text = (
            f"🕒 Status update: {s.severity} · {s.status.replace('_', ' ')} · phase {s.phase} · "
            f"commander {s.roles.get('commander', 'nobody yet')} · waiting for approval: "
            f"{waiting} · {s.alerts_firing} alert(s) firing"
        )
        post = StatusPost(
            incident_id=s.incident_id, channel=room.channel, number=room.updates + 1, text=text
        )
        await self._call(POST, post, str, "status update")
        room.updates += 1

    # ---- what the room shows ---------------------------------------------------------

    def _view(self) -> tuple[Any, ...]:
        s = self.incident.state
        steps = tuple((p.id, p.status, tuple(p.approved_by), p.decided_by) for p in self._asking())
        return (
            s.status,
            s.severity,
            s.phase,
            s.roles.get("commander"),
            s.milestones.acknowledged is not None,
            s.alerts_firing,
            s.alerts_total,
            steps,
        )

    def _asking(self) -> list[StepState]:
        """Steps that have (or need) a message: waiting for approval, failed and waiting for
        retry or skip, or asked about before."""
        s = self.incident.state
        return [
            p
            for p in s.steps
            if p.id in self.room.messages
            or p.status == "awaiting_approval"
            or (p.status == "failed" and s.status == "paused")
        ]

    async def _sync(self) -> None:
        room, s = self.room, self.incident.state
        card = self._card()
        about = (s.severity, s.status, s.roles.get("commander"))
        set_topic = self.spec.creates and self._shown.get("topic") != about
        if room.card_ts is None or set_topic or self._shown.get("card") != card:
            update = {"set_topic": set_topic}
            room.card_ts = await self._call(CARD, card.model_copy(update=update), str, "card")
            self._shown["card"] = card.model_copy(update={"ts": room.card_ts})
            self._shown["topic"] = about
        for step in self._asking():
            first = step.id not in room.messages
            msg = self._step_message(step, notify=first)
            shown = msg.model_copy(update={"notify": []})
            if self._shown.get(step.id) == shown:
                continue
            posted = await self._call(STEP, msg, StepPosted, f"step {step.id}")
            room.messages[step.id], room.copies[step.id] = posted.ts, posted.copies
            self._shown[step.id] = shown.model_copy(
                update={"ts": posted.ts, "copies": posted.copies}
            )

    def _card(self) -> Card:
        s, room = self.incident.state, self.room
        assert room.channel is not None
        return Card(
            incident_id=s.incident_id,
            channel=room.channel,
            ts=room.card_ts,
            title=s.title,
            summary=s.summary,
            severity=s.severity,
            status=s.status,
            phase=s.phase,
            commander=s.roles.get("commander"),
            acknowledged=s.milestones.acknowledged is not None,
            alerts_firing=s.alerts_firing,
            alerts_total=s.alerts_total,
            outcome=s.outcome,
        )

    def _step_message(self, step: StepState, *, notify: bool) -> StepMessage:
        room = self.room
        assert room.channel is not None
        spec = self.incident.runbook.step(step.id)
        approval = spec.approval if spec else None
        status = step.status
        if status == "awaiting_approval" and self.incident.state.is_closed:
            status = "pending"  # the incident closed first: the gate asks nobody any more
        return StepMessage(
            incident_id=self.incident.state.incident_id,
            channel=room.channel,
            ts=room.messages.get(step.id),
            copies=room.copies.get(step.id, []),
            step=step.id,
            title=spec.title if spec else None,
            status=status,
            approvers=[a for a in step.approvers if a != "*"],
            min_approvals=step.min_approvals,
            approved_by=list(step.approved_by),
            decided_by=step.decided_by,
            comment=step.comment,
            error=step.error,
            within=format_duration(approval.timeout) if approval and approval.timeout else None,
            notify=[a for a in step.approvers if a != "*"] if notify else [],
        )

    def _open_input(self) -> OpenRoom:
        s = self.incident.state
        return OpenRoom(
            incident_id=s.incident_id,
            runbook=s.runbook,
            title=s.title,
            severity=s.severity,
            status=s.status,
            started_at=s.started_at,
            channel=self.spec.channel,
            invite=list(self.spec.invite),
        )

    async def _call(self, name: str, arg: Any, result_type: type | None, what: str) -> Any:
        inc = self.incident
        inc.in_flight += 1  # the run continues as new only between calls
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=SLACK_ATTEMPT,
                schedule_to_close_timeout=SLACK_GIVE_UP,
                retry_policy=SLACK_RETRY,
                summary=f"slack: {what}",
            )
        finally:
            inc.in_flight -= 1
