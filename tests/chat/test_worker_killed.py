"""A worker SIGKILLed after Slack created the channel (before the worker heard), and another
after Slack posted the card: the workers that take over find both instead of making them
again: exactly one channel and one card."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chat.conftest import PEOPLE, TEAMS
from tests.chat.test_room_e2e import approval_message, until
from warroom.entry.fakeslack import TOKEN, Channel, FakeSlack
from warroom.incidents.declare import declare
from warroom.language.loader import load_runbook_file

pytestmark = pytest.mark.slow

RUNBOOK = """
name: killed
title: Workers die in the room
chat: {slack: {channel: create, invite: [dana]}}
steps:
  - id: rollback
    phase: mitigate
    approval: {approvers: [dana]}
    action: note
    with: {text: rolled back}
"""


def worker(dev_env, queue: str, slack: FakeSlack, directory: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WARROOM_TASK_QUEUE": queue,
        "WARROOM_SLACK_BOT_TOKEN": TOKEN,
        "WARROOM_SLACK_API_URL": slack.api_url,
        "WARROOM_RUNBOOKS": str(directory),
    }
    exe = str(Path(sys.executable).parent / "warroom")
    return subprocess.Popen([exe, "worker"], env=env, stdout=subprocess.DEVNULL, text=True)


async def test_killed_workers_leave_one_channel_and_one_card(
    dev_env, task_queue, tmp_path, monkeypatch
) -> None:
    (tmp_path / "people.yaml").write_text(PEOPLE)
    (tmp_path / "teams.yaml").write_text(TEAMS)
    (tmp_path / "killed.yaml").write_text(RUNBOOK)
    monkeypatch.setenv("WARROOM_TASK_QUEUE", task_queue)
    workers: list[subprocess.Popen[str]] = []

    def kill_the_worker() -> None:
        """Called by the fake after Slack acted, before the answer leaves."""
        workers[-1].kill()
        workers[-1].wait(30)

    with FakeSlack() as slack:
        slack.after_next["conversations.create"] = kill_the_worker
        slack.after_next["pins.add"] = kill_the_worker  # the card is posted and pinned
        try:
            workers.append(worker(dev_env, task_queue, slack, tmp_path))
            runbook = load_runbook_file(tmp_path / "killed.yaml")
            await declare(dev_env.client, runbook, "two kills", declared_by="carol")
            await until(lambda: workers[-1].poll() is not None, "the first kill", 60)
            workers.append(worker(dev_env, task_queue, slack, tmp_path))
            await until(lambda: workers[-1].poll() is not None, "the second kill", 60)
            workers.append(worker(dev_env, task_queue, slack, tmp_path))

            def made() -> list[Channel]:
                return [c for c in list(slack.channels.values()) if c.name.startswith("inc-")]

            await until(lambda: made() and approval_message(made()[0]), "the approval", 60)
            rooms = made()
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.kill()
                    await asyncio.to_thread(proc.wait)
    assert len(rooms) == 1 and slack.methods().count("conversations.create") == 1
    channel = rooms[0]
    cards = [m for m in channel.messages if "card:" in str(m.get("blocks"))]
    assert len(cards) == 1 and channel.pins == [cards[0]["ts"]]
    assert slack.methods().count("pins.add") == 1
