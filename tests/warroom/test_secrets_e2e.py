"""End to end on the real dev server: an incident whose runbook uses secrets in every way the
rule allows, against a loopback echo that sends them all back. No encoded form of a secret may
appear in the decoded workflow history, the worker's log, or any CLI command's output."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from tests.secretforms import HEADER_SECRET, URL_SECRET, EchoServer, leaks
from tests.warroom.test_cli import wait_for, warroom
from worker import build_worker

RUNBOOK = """
name: secret-leaks
title: Secrets in every encoding
severity: SEV3
updates:
  - {action: webhook.post, with: {url: "{{ secret.LEAK_ECHO }}/hook/{{ secret.LEAK_URL }}"}}
steps:
  - id: query
    phase: triage
    action: http.request
    with: {url: "{{ secret.LEAK_ECHO }}/q?token={{ secret.LEAK_URL | urlencode }}"}
  - id: auth
    phase: triage
    action: http.request
    with:
      method: POST
      url: "{{ secret.LEAK_ECHO }}/p/{{ secret.LEAK_URL }}?again={{ secret.LEAK_URL }}"
      headers:
        Authorization: "Basic {{ ('user:' ~ secret.LEAK_HDR) | b64encode }}"
        X-Token: "Bearer {{ secret.LEAK_HDR }}"
      json: {seen: "{{ steps['query'].result.json.raw }}", token: "{{ secret.LEAK_HDR }}"}
  - id: failing
    phase: mitigate
    action: http.request
    retry: none
    with: {url: "{{ secret.LEAK_ECHO }}/fail?token={{ secret.LEAK_URL | urlencode }}"}
  - id: bad-template
    phase: mitigate
    action: http.request
    retry: none
    # Using a secret as a key is refused at load, so this one fails only while rendering,
    # after the secrets were read.
    with: {url: "{{ secret.LEAK_ECHO }}/{{ secret.LEAK_URL ~ steps.query.result.json.missing }}"}
"""


def payload_texts(data: Any) -> Iterator[str]:
    """Every string in a history event, with each payload decoded (and its JSON walked)."""
    if isinstance(data, dict):
        if "data" in data and isinstance(data.get("metadata"), dict):
            try:
                text = base64.b64decode(data["data"]).decode("utf-8", "replace")
            except binascii.Error:
                text = ""
            yield text
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = None
            yield from payload_texts(decoded)
        for key, value in data.items():
            yield key
            yield from payload_texts(value)
    elif isinstance(data, list):
        for value in data:
            yield from payload_texts(value)
    elif isinstance(data, str):
        yield data


async def test_no_form_of_a_secret_reaches_history_log_or_cli(
    dev_env, task_queue, monkeypatch, tmp_path, caplog: pytest.LogCaptureFixture
):
    runbook = tmp_path / "secret-leaks.yaml"
    runbook.write_text(RUNBOOK)
    with EchoServer() as echo, caplog.at_level(logging.DEBUG):
        monkeypatch.setenv("WARROOM_SECRET_LEAK_ECHO", echo.url)
        monkeypatch.setenv("WARROOM_SECRET_LEAK_URL", URL_SECRET)
        monkeypatch.setenv("WARROOM_SECRET_LEAK_HDR", HEADER_SECRET)
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "WARROOM_TASK_QUEUE": task_queue,
        }

        def cli(*args: str) -> str:
            done = warroom(*args, env=env)
            assert done.returncode == 0, done.stderr
            return done.stdout + done.stderr

        async with build_worker(dev_env.client, task_queue):
            declared = await asyncio.to_thread(
                cli, "declare", "--runbook", str(runbook), "--summary", "leaks"
            )
            incident_id = declared.strip()
            outputs = [declared]
            for step in ("failing", "bad-template"):
                await wait_for(
                    lambda s, step=step: (
                        s["status"] == "paused"
                        and any(x["id"] == step and x["status"] == "failed" for x in s["steps"])
                    ),
                    "show",
                    incident_id,
                    env=env,
                )
                outputs += [await asyncio.to_thread(cli, *c) for c in read_commands(incident_id)]
                outputs.append(
                    await asyncio.to_thread(cli, "skip", incident_id, step, "--by", "al")
                )
            state = await wait_for(
                lambda s: s["status"] == "resolved", "show", incident_id, env=env
            )
            outputs += [await asyncio.to_thread(cli, *c) for c in read_commands(incident_id)]
            history = await dev_env.client.get_workflow_handle(incident_id).fetch_history()

    # The incident really used the secrets, and the leak paths were really exercised.
    assert [s["status"] for s in state["steps"]] == ["succeeded", "succeeded", "skipped", "skipped"]
    assert any(URL_SECRET in r.path or "%C3%BC" in r.path for r in echo.requests)
    failed = [
        r for r in caplog.records if r.getMessage().startswith("Completing activity as failed")
    ]
    assert len(failed) >= 2 and any(r.name == "httpx" for r in caplog.records)

    texts = [t for event in history.events for t in payload_texts(MessageToDict(event))]
    assert any("/q?token=***" in t for t in texts)  # the echo is in history, scrubbed
    assert leaks(texts, [URL_SECRET, HEADER_SECRET]) == []
    assert leaks([caplog.text], [URL_SECRET, HEADER_SECRET]) == []
    assert leaks(outputs, [URL_SECRET, HEADER_SECRET]) == []


def read_commands(incident_id: str) -> list[tuple[str, ...]]:
    return [
        ("show", incident_id),
        ("show", incident_id, "--json"),
        ("timeline", incident_id),
        ("timeline", incident_id, "--json"),
        ("list",),
        ("list", "--json"),
    ]
