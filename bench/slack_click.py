"""Benchmark: approving from Slack vs `warroom approve`, on the same kind of incident in the same
run: a click on Approve (signed as Slack signs it, posted to the chat face) → the decision
applied (the approved step's GET reaches a local target) → the approval message edited in the
fake Slack ("approved by dana"); against `warroom.incidents.decisions.send` (the CLI's path) →
applied → edited. Also the number of Slack API calls per incident.
Results go to bench/results/slack_click.json.
Usage: .venv/bin/python -m bench.slack_click [--decisions D]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from activities.slack_blocks import APPROVE
from bench.machine import dev_server, run, write_results
from bench.measure import percentile, table
from bench.target import Target
from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.api.server import running
from warroom.contract.models import Decision
from warroom.entry.devstack import free_port
from warroom.entry.fakeslack import SECRET, TOKEN, FakeSlack, buttons, click_body, sign, texts
from warroom.entry.web import web_app
from warroom.incidents import decisions
from warroom.incidents.declare import declare
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook
from worker import build_worker

QUEUE = "bench-slack"
DANA = "U024BE7LH"
RUNBOOK = """
name: slack-bench
title: Slack click
chat: {slack: {channel: create}}
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [dana]}
    action: http.request
    with: {url: "{{ secret.BENCH_URL }}/hit/{{ incident.incident_id }}"}
"""


def asking(slack: FakeSlack, incident_id: str) -> tuple[str, dict[str, Any]] | None:
    """The channel and approval message of the incident, once posted."""
    short = "".join(c for c in incident_id if c.isalnum())[-6:]
    for channel in list(slack.channels.values()):
        if channel.name.endswith(short):
            for message in channel.messages:
                if APPROVE in buttons(message):
                    return channel.id, message
    return None


async def until(check: Callable[[], Any]) -> Any:
    for _ in range(20_000):  # a bound, not a timing
        if found := check():
            return found
        await asyncio.sleep(0.002)
    raise TimeoutError


async def measure(
    slack: FakeSlack, target: Target, incident_id: str, decide: Callable[[str, str], Any]
) -> tuple[float, float]:
    """(seconds to applied, seconds to the message edited) of one decision."""
    channel, message = await until(lambda: asking(slack, incident_id))
    ts = message["ts"]

    def edited() -> bool:
        found = slack.channels[channel].message(ts)
        return found is not None and "approved by dana" in texts(found)

    sent = time.time()
    await decide(channel, buttons(message)[APPROVE])
    applied = await asyncio.to_thread(target.first, incident_id) - sent
    await until(edited)
    return applied, time.time() - sent


def summary(latencies: list[float]) -> dict[str, float]:
    return {f"p{p}_ms": round(1000 * percentile(latencies, p), 1) for p in (50, 95)}


async def main(n: int) -> None:
    target = Target("/hit/")
    target.server.start()
    directory = Path(tempfile.mkdtemp(prefix="bench-slack-"))
    (directory / "people.yaml").write_text(f"dana: {{slack: {DANA}}}\n")
    with FakeSlack() as slack:
        os.environ.update(
            WARROOM_SECRET_BENCH_URL=target.server.url,
            WARROOM_TASK_QUEUE=QUEUE,
            WARROOM_SLACK_BOT_TOKEN=TOKEN,
            WARROOM_SLACK_API_URL=slack.api_url,
            WARROOM_SLACK_SIGNING_SECRET=SECRET,
            WARROOM_RUNBOOKS=str(directory),
        )
        print(f"starting dev server; {n} decisions each way", flush=True)
        env = await dev_server()
        client = env.client
        runbook = parse_runbook(RUNBOOK)
        app = web_app(
            Catalogue([Entry(runbook)], "slack-bench"), Temporal(client), tokens=Tokens({})
        )
        clicked, sent_cli = [], []
        try:
            async with (
                env,
                build_worker(client),
                running(app, "127.0.0.1", free_port()) as url,
                httpx.AsyncClient(timeout=30) as http,
            ):
                calls_before = len(slack.calls)
                for _ in range(n):
                    one = await declare(client, runbook, "click", declared_by="bench")
                    two = await declare(client, runbook, "cli", declared_by="bench")

                    async def click(channel: str, value: str) -> None:
                        body = click_body(
                            DANA, APPROVE, value, slack.response_url(), channel=channel
                        )
                        answer = await http.post(
                            f"{url}/v1/chat/slack/interactions", content=body, headers=sign(body)
                        )
                        answer.raise_for_status()

                    async def approve(incident_id: str, channel: str, value: str) -> None:
                        await decisions.send(
                            client, incident_id, "approve", Decision(step="fix", by="dana")
                        )

                    clicked.append(await measure(slack, target, one, click))
                    sent_cli.append(
                        await measure(slack, target, two, lambda c, v, i=two: approve(i, c, v))
                    )
                calls = (len(slack.calls) - calls_before) / (2 * n)
        finally:
            target.server.stop()
    results: dict[str, Any] = {
        "decisions": n,
        "click_to_applied": summary([a for a, _ in clicked]),
        "click_to_message_updated": summary([u for _, u in clicked]),
        "approve_to_applied": summary([a for a, _ in sent_cli]),
        "approve_to_message_updated": summary([u for _, u in sent_cli]),
        "slack_calls_per_incident": round(calls, 1),
        "load_average_1m": os.getloadavg()[0],
    }
    r = results
    print(
        table(
            [
                ("decision", "applied p50 ms", "p95 ms", "message edited p50 ms", "p95 ms"),
                (
                    "Slack click (chat face)",
                    f"{r['click_to_applied']['p50_ms']}",
                    f"{r['click_to_applied']['p95_ms']}",
                    f"{r['click_to_message_updated']['p50_ms']}",
                    f"{r['click_to_message_updated']['p95_ms']}",
                ),
                (
                    "warroom approve (decisions.send)",
                    f"{r['approve_to_applied']['p50_ms']}",
                    f"{r['approve_to_applied']['p95_ms']}",
                    f"{r['approve_to_message_updated']['p50_ms']}",
                    f"{r['approve_to_message_updated']['p95_ms']}",
                ),
            ]
        )
    )
    print(f"Slack API calls per incident: {r['slack_calls_per_incident']}")
    print(f"results: {write_results('slack_click', results)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20)
    args = parser.parse_args()
    run(main(args.decisions))
