"""The saved history of an incident with a Slack room (tests/chat/record_history.py) takes the
room's patch and its activities (tests/workflows/test_replay.py replays every saved history)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from temporalio.client import WorkflowHistory

from tests.workflows.test_replay import HISTORIES, memo_events, patches
from warroom.contract.converter import data_converter
from warroom.record.timeline import read_runs, told
from workflows.chat_room import CARD, CLOSE, OPEN, PATCH_CHAT_ROOM, POST, STEP


def test_the_chat_room_history_takes_the_room_patch_and_its_activities() -> None:
    path = next(p for p in HISTORIES if p.name == "chat-room.json")
    assert PATCH_CHAT_ROOM in patches(path)
    text = path.read_text()
    for activity in (OPEN, CARD, STEP, POST, CLOSE):
        assert f'"{activity}"' in text, activity
    assert "chat room opened" in memo_events(path)
    # No secret in history: the token stays on the worker.
    assert "xoxb-" not in text


async def test_the_room_s_slack_calls_are_not_steps_in_the_timeline() -> None:
    path = next(p for p in HISTORIES if p.name == "chat-room.json")
    history = WorkflowHistory.from_json("chat-room", json.loads(path.read_text()))
    decoding: Any = SimpleNamespace(data_converter=data_converter())  # no server needed
    entries = told("chat-room", await read_runs(decoding, [list(history.events)])).entries
    assert not [e for e in entries if "slack." in f"{e.step} {e.detail}"]
    assert any(e.event == "chat room opened" for e in entries)
    assert {e.step for e in entries if e.step} == {"look", "rollback"}
