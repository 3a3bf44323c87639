"""The saved history of an incident with a Slack room (tests/chat/record_history.py) takes the
room's patch and its activities (tests/workflows/test_replay.py replays every saved history)."""

from __future__ import annotations

from tests.workflows.test_replay import HISTORIES, memo_events, patches
from workflows.chat_room import CARD, CLOSE, OPEN, PATCH_CHAT_ROOM, STEP


def test_the_chat_room_history_takes_the_room_patch_and_its_activities() -> None:
    path = next(p for p in HISTORIES if p.name == "chat-room.json")
    assert PATCH_CHAT_ROOM in patches(path)
    text = path.read_text()
    for activity in (OPEN, CARD, STEP, CLOSE):
        assert f'"{activity}"' in text, activity
    assert "chat room opened" in memo_events(path)
    # No secret in history: the token stays on the worker.
    assert "xoxb-" not in text
