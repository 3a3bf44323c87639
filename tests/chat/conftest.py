"""Fixtures of the chat tests: the fake Slack, people.yaml, Slack's request signing, and the
web process (API + chat face) with a worker, on the dev server, configured for Slack."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.api.server import running
from warroom.entry.devstack import free_port
from warroom.entry.fakeslack import SECRET, TOKEN, FakeSlack
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook
from worker import build_worker

DANA, ERIN, MALLORY, STRANGER = "U024BE7LH", "U0ERIN0001", "U0MALL0001", "U0STRANGER"
VERA = "U0VERA0001"  # known, but a viewer: reads, never decides
PEOPLE = f"""
dana: {{name: Dana Ortiz, slack: {DANA}, email: dana@example.com}}
erin: {{name: Erin Lee, slack: {ERIN}}}
mallory: {{slack: {MALLORY}}}
vera: {{slack: {VERA}, role: viewer}}
"""
TEAMS = "sre: [dana, erin]\n"
ROOM = """
name: roomed
title: Checkout errors in the room
severity: SEV2
match: {alertname: TestAlert}
on_alert_resolved: continue
chat: {slack: {channel: create, invite: ["group:sre"]}}
steps:
  - id: look
    phase: triage
    action: note
    with: {text: looked}
  - id: rollback
    phase: mitigate
    title: Roll back the deploy
    approval: {approvers: [dana, erin], min_approvals: 1, timeout: 10m}
    action: note
    with: {text: rolled back}
"""


@dataclass
class Room:
    url: str
    http: httpx.AsyncClient
    client: Client
    slack: FakeSlack

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post(f"{self.url}{path}", content=body, headers=headers)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def slack_env(slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("runbooks")
    (directory / "people.yaml").write_text(PEOPLE)
    (directory / "teams.yaml").write_text(TEAMS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WARROOM_SLACK_BOT_TOKEN", TOKEN)
        mp.setenv("WARROOM_SLACK_SIGNING_SECRET", SECRET)
        mp.setenv("WARROOM_SLACK_API_URL", slack.api_url)
        mp.setenv("WARROOM_RUNBOOKS", str(directory))
        mp.setenv("WARROOM_PUBLIC_URL", "http://127.0.0.1")
        yield directory


@pytest.fixture(scope="module")
async def room(dev_env, slack, slack_env) -> AsyncIterator[Room]:
    queue = f"tq-chat-{time.monotonic_ns()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WARROOM_TASK_QUEUE", queue)
        runbook = parse_runbook(ROOM, teams={"sre": ["dana", "erin"]})
        entry = Entry(runbook, teams={"sre": ["dana", "erin"]})
        app = web_app(
            Catalogue([entry], fallback="roomed"), Temporal(dev_env.client), tokens=Tokens({})
        )
        async with (
            build_worker(dev_env.client, queue),
            running(app, "127.0.0.1", free_port()) as url,
            httpx.AsyncClient(timeout=30) as http,
        ):
            yield Room(url, http, dev_env.client, slack)
