"""Fixtures of the CLI tests: a worker on a fresh task queue and a runbook with an approval."""

from __future__ import annotations

import os

import pytest

from tests.fakehttp import Reply
from worker import build_worker

GATED = """
name: cli-gated
title: CLI gated incident
severity: SEV3
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "{{ secret.CLI_API }}/look"}}
  - id: fix
    phase: mitigate
    approval: {approvers: [carol, dave]}
    action: http.request
    with: {method: POST, url: "{{ secret.CLI_API }}/fix"}
"""


@pytest.fixture
async def cli(dev_env, task_queue, fake_http, monkeypatch, tmp_path):
    """A worker on a fresh task queue, the env a CLI process needs, and a gated runbook file."""
    monkeypatch.setenv("WARROOM_SECRET_CLI_API", fake_http.url)
    fake_http.routes[("GET", "/look")] = Reply(200, {"ok": True})
    fake_http.routes[("POST", "/fix")] = Reply(200, {"fixed": True})
    runbook = tmp_path / "cli-gated.yaml"
    runbook.write_text(GATED)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WARROOM_TASK_QUEUE": task_queue,
    }
    async with build_worker(dev_env.client, task_queue):
        yield env, runbook, fake_http
