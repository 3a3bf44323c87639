"""`warroom demo --slack`: the demo incident with its room in a fake Slack on a loopback port
(warroom/entry/fakeslack.py): the channel, the pinned card, the approval message; the on-call
engineer approves by clicking Approve (a request signed as Slack signs it, to the chat face);
at the end the channel is printed as a person would see it, with the number of Slack calls."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
from temporalio.client import Client

from activities.slack_api import API_URL_ENV, TOKEN_ENV
from activities.slack_blocks import APPROVE
from warroom.chat.signing import SECRET_ENV
from warroom.entry.fakeslack import SECRET, TOKEN, FakeSlack, buttons, click_body, sign, transcript
from warroom.incidents import views
from warroom.language.people import find_people
from warroom.language.runbook import Chat, SlackRoom

APPROVER = "dana-oncall"
CHAT = Chat(slack=SlackRoom(channel="create", invite=[APPROVER, "sre-lead"]))
WAIT_SECONDS = 30.0


class Room:
    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack

    def approver(
        self, client: Client, url: str, say: Callable[[str], None]
    ) -> Callable[[str, str], Coroutine[Any, Any, None]]:
        """Approving as the on-call engineer does in Slack: a click on Approve."""
        user = find_people().slack_id(APPROVER)

        async def approve(incident_id: str, step: str) -> None:
            if user is None:
                raise RuntimeError(f"{APPROVER} has no Slack id in people.yaml")
            channel, value = self._button(incident_id, step)
            body = click_body(user, APPROVE, value, self.slack.response_url(), channel=channel)
            started = time.monotonic()
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.post(
                    f"{url}/v1/chat/slack/interactions", content=body, headers=sign(body)
                )
            took = (time.monotonic() - started) * 1000
            say(
                f"{APPROVER} clicks Approve on {step} in Slack → HTTP {answer.status_code} in {took:.0f} ms"
            )
            await _until_decided(client, incident_id, step)
            say(f"{step} approved from Slack; the approval message and the card follow")

        return approve

    def _button(self, incident_id: str, step: str) -> tuple[str, str]:
        wanted = {"incident": incident_id, "step": step}
        for channel in list(self.slack.channels.values()):
            for message in channel.messages:
                value = buttons(message).get(APPROVE)
                if value and json.loads(value) == wanted:
                    return channel.id, value
        raise RuntimeError(f"no Approve button for {step} in the fake Slack")

    def transcript(self) -> str:
        rooms = [c for c in self.slack.channels.values() if c.name.startswith("inc-")]
        methods = Counter(self.slack.methods())
        per = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
        shown = "\n\n".join(transcript(c) for c in rooms)
        return f"the incident's Slack channel:\n{shown}\n\nSlack API calls: {sum(methods.values())} ({per})"


async def _until_decided(client: Client, incident_id: str, step: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        state = await views.status(client, incident_id)
        if all(s.status != "awaiting_approval" for s in state.steps if s.id == step):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the click did not decide {step} within {WAIT_SECONDS:.0f}s")


async def run(demo: Callable[[Room], Awaitable[int]]) -> int:
    """Run `demo` with the fake Slack up and warroom pointed at it."""
    with FakeSlack() as slack:
        saved = {k: os.environ.get(k) for k in (TOKEN_ENV, API_URL_ENV, SECRET_ENV)}
        os.environ.update({TOKEN_ENV: TOKEN, API_URL_ENV: slack.api_url, SECRET_ENV: SECRET})
        try:
            return await demo(Room(slack))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
