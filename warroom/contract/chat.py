"""The incident room in Slack as it crosses the Temporal boundary: what the workflow keeps
(channel, card and step messages, so a crashed worker edits the same messages) and the inputs
of the room's activities (activities/slack_room.py). No token ever: activities read it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

#: The room's activity names: activities/slack_room.py defines them, workflows/chat_room.py
#: calls them by name, and the timeline leaves them out (all start with ROOM_PREFIX).
ROOM_PREFIX = "slack.room."
OPEN, CARD, STEP, POST, CLOSE = (
    f"{ROOM_PREFIX}{name}" for name in ("open", "card", "step", "post", "close")
)


class RoomState(BaseModel):
    """The incident's Slack room, in the workflow's state (and the `status` query)."""

    channel: str | None = None
    name: str | None = None
    #: The pinned incident card's message.
    card_ts: str | None = None
    #: The message asking people about each step (approval, or retry/skip), by step id.
    messages: dict[str, str] = Field(default_factory=dict)
    #: Its copies sent to people directly (DM channel, ts), by step id: edited along.
    copies: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)
    #: When the next status update is due in the channel (the severity's cadence).
    next_update: datetime | None = None
    #: Status updates posted in the channel so far.
    updates: int = 0
    #: The room stopped working (a Slack error retrying cannot fix): why.
    stopped: str | None = None
    closed: bool = False


class OpenRoom(BaseModel):
    """Create (or find again) the incident's channel, set its topic, invite its people."""

    incident_id: str
    runbook: str
    title: str
    severity: str
    status: str
    started_at: datetime
    #: "create", or a fixed channel by name ("#payments-incidents") or id ("C024BE91L").
    channel: str
    #: warroom names and `group:` names, resolved to Slack ids on the worker (people.yaml).
    invite: list[str] = Field(default_factory=list)


class OpenedRoom(BaseModel):
    channel: str
    name: str


class Card(BaseModel):
    """The incident card: posted (and pinned) once, edited in place after."""

    incident_id: str
    channel: str
    ts: str | None = None
    title: str
    summary: str
    severity: str
    status: str
    phase: str
    commander: str | None = None
    acknowledged: bool = False
    alerts_firing: int = 0
    alerts_total: int = 0
    outcome: str | None = None
    #: Set the channel's topic from the card too (severity, status or commander changed).
    set_topic: bool = False


class StepMessage(BaseModel):
    """A step that needs people (approval gate, or failed and paused): posted once with its
    buttons, edited to its outcome after; `notify` are DMed when it is first posted."""

    incident_id: str
    channel: str
    ts: str | None = None
    step: str
    title: str | None = None
    status: str
    approvers: list[str] = Field(default_factory=list)
    min_approvals: int = 1
    approved_by: list[str] = Field(default_factory=list)
    decided_by: str | None = None
    comment: str | None = None
    error: str | None = None
    #: How long the gate waits ("10m"), when it says.
    within: str | None = None
    notify: list[str] = Field(default_factory=list)
    #: The DM copies to edit along (channel, ts).
    copies: list[tuple[str, str]] = Field(default_factory=list)


class StepPosted(BaseModel):
    """The step's message, and the copies DMed when it was first posted."""

    ts: str
    copies: list[tuple[str, str]] = Field(default_factory=list)


class StatusPost(BaseModel):
    """A status update posted in the channel on the incident's cadence (the `number`th)."""

    incident_id: str
    channel: str
    number: int
    text: str


class CloseRoom(BaseModel):
    """At the close: archive the created channel, or rename it `…-resolved`."""

    channel: str
    name: str
    at_close: str
