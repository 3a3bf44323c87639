"""Bad input through the plain Temporal CLI, past every check warroom's own CLI makes: signals
of every name with wrong JSON types, oversized payloads, updates with wrong types. Each is
refused or dropped with a message; the workflow task never fails and the incident goes on.
(What the other boundaries refuse is tested where they live: see the README's fault suite.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from tests.conftest import installed_binary
from tests.fakehttp import Reply
from tests.faults.conftest import fault_runbook
from tests.workflows.test_incident import finish, start, step, wait_for
from warroom.contract.models import ALERTS_PER_SIGNAL, TEXT_MAX_CHARS, Decision
from warroom.record.timeline import timeline
from worker import build_worker
from workflows.incident import IncidentWorkflow

GATED = """
name: bad-signals
title: Bad signals
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [carol]}
    action: http.request
    with: {method: POST, url: "{{ secret.TARGET }}/fix"}
"""

SIGNALS = [
    "approve", "reject", "retry_step", "skip_step", "abort", "acknowledge",
    "assign", "note", "set_severity", "resolve", "alert", "alerts",
]  # fmt: skip

#: Every field any signal takes, each with the wrong JSON type.
WRONG_TYPES = {
    "step": 1, "by": ["x"], "comment": {}, "reason": 2, "role": None, "to": 3, "text": [],
    "severity": 4, "fingerprint": 5, "labels": "x", "status": [],
}  # fmt: skip


async def temporal(*args: str, address: str) -> subprocess.CompletedProcess[str]:
    command = [installed_binary("temporal"), "workflow", *args, "--address", address]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )


async def test_the_plain_temporal_cli_cannot_break_an_incident(
    dev_env, task_queue, fake_http, monkeypatch, tmp_path: Path
):
    fake_http.routes[("POST", "/fix")] = Reply(200, {"ok": True})
    monkeypatch.setenv("WARROOM_SECRET_TARGET", fake_http.url)
    address = dev_env.client.service_client.config.target_host
    huge = tmp_path / "huge.json"
    async with build_worker(dev_env.client, task_queue):
        handle = await start(dev_env.client, task_queue, fault_runbook(GATED))
        await wait_for(handle, lambda s: s.status == "awaiting_approval", "awaiting_approval")
        target = ("--workflow-id", handle.id)

        malformed = [json.dumps(WRONG_TYPES), "[1, 2]", '"fix"', "null"]
        for name in SIGNALS:
            for data in malformed:
                sent = await temporal(
                    "signal", *target, "--name", name, "--input", data, address=address
                )
                assert sent.returncode == 0, (name, data, sent.stderr)  # the server takes it
        sent = await temporal(
            "signal", *target, "--name", "note",
            "--input", json.dumps({"by": "eve", "text": "x" * (TEXT_MAX_CHARS + 1)}),
            address=address,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr

        # Too large for Temporal: the server refuses it and says so; nothing reaches the incident.
        huge.write_text(json.dumps({"step": "fix", "by": "carol", "comment": "x" * 3_000_000}))
        refused = await temporal(
            "signal", *target, "--name", "approve", "--input-file", str(huge), address=address
        )
        assert refused.returncode != 0
        assert "size exceeds limit" in refused.stderr, refused.stderr
        # Alerts too large to keep (an incident keeps every alert in the state a status query
        # returns): dropped, where two of them used to make every later query fail.
        for n in range(2):
            big = {"fingerprint": f"fp-{n}", "labels": {"alertname": "A", "x": "y" * 1_500_000}}
            huge.write_text(json.dumps(big))
            sent = await temporal(
                "signal", *target, "--name", "alert", "--input-file", str(huge), address=address
            )
            assert sent.returncode == 0, sent.stderr
        # A batch is dropped whole: one bad alert in it, or more alerts than one signal takes.
        for batch in (
            [{"fingerprint": "fp-batch"}, {"fingerprint": ""}],
            [{"fingerprint": f"fp-{n}"} for n in range(ALERTS_PER_SIGNAL + 1)],
        ):
            huge.write_text(json.dumps(batch))
            sent = await temporal(
                "signal", *target, "--name", "alerts", "--input-file", str(huge), address=address
            )
            assert sent.returncode == 0, sent.stderr
        fits = {"fingerprint": "fp-ok", "annotations": {"description": "d" * 30_000}}
        sent = await temporal(
            "signal", *target, "--name", "alert", "--input", json.dumps(fits), address=address
        )
        assert sent.returncode == 0, sent.stderr
        # An update with wrong types is refused to the caller at once.
        updated = await temporal(
            "update", "execute", *target, "--name", "approve_step",
            "--input", json.dumps(WRONG_TYPES), address=address,
        )  # fmt: skip
        assert updated.returncode != 0
        assert "valid string" in updated.stdout + updated.stderr, (updated.stdout, updated.stderr)

        state = await handle.query(IncidentWorkflow.status)
        assert state.status == "awaiting_approval" and state.decisions == []
        assert [a.fingerprint for a in state.alerts] == ["fp-ok"] and step(
            state, "fix"
        ).approved_by == []
        await handle.signal(IncidentWorkflow.approve, Decision(step="fix", by="carol"))
        result = await finish(handle)

    assert result.status == "resolved"
    assert len(fake_http.calls("POST", "/fix")) == 1
    failed_tasks = [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]
    assert failed_tasks == []
    entries = await timeline(dev_env.client, handle.id)
    ignored = [e for e in entries if e.event == "malformed signal ignored"]
    assert len(ignored) == len(SIGNALS) * len(malformed) + 5, [e.detail for e in ignored]
