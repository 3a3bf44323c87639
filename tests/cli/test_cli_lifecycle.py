"""The incident lifecycle from the command line: ack, assign, note, severity, resolve, quorum
approvals and `group:` approvers, through the warroom CLI and through the plain Temporal CLI,
as real processes against a real dev server and worker."""

from __future__ import annotations

import asyncio
import json
import subprocess

from temporalio.testing import WorkflowEnvironment

from tests.cli.test_cli import cli_json, declare, declare_runbook, wait_for, warroom
from tests.conftest import installed_binary
from warroom.contract.models import IncidentState
from workflows.incident import IncidentWorkflow


async def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(warroom, *args, env=env)


async def applied(*args: str, env: dict[str, str]) -> str:
    """The one line a decision that applied answers with."""
    done = await run(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1, done.stdout
    return done.stdout.strip()


async def refused(*args: str, env: dict[str, str]) -> str:
    """The one `error:` line a refused decision answers with (exit 1)."""
    done = await run(*args, env=env)
    assert done.returncode == 1, (args, done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


async def temporal(
    *args: str, env: dict[str, str], codec: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """The plain Temporal CLI against the test server (through the codec server `codec` names,
    when the suite encrypts)."""
    command = [
        installed_binary("temporal"), "workflow", *args,
        "--address", env["TEMPORAL_ADDRESS"], "--output", "json", *codec,
    ]  # fmt: skip
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )


async def awaiting(env: dict[str, str], incident_id: str) -> dict:
    return await wait_for(
        lambda s: s["status"] == "awaiting_approval", "show", incident_id, env=env
    )


async def test_ack_assign_note_severity_resolve_through_the_warroom_cli(cli):
    env, runbook, fake = cli
    inc = await declare(env, runbook)
    await awaiting(env, inc)

    assert await applied("ack", inc, "--by", "dana", env=env) == (
        f"{inc}: acknowledged by dana (commander)"
    )
    assert "already acknowledged" in await refused("ack", inc, "--by", "erin", env=env)
    assert await applied("assign", inc, "ops", "bob", "--by", "dana", env=env) == (
        f"{inc}: bob is now ops (assigned by dana)"
    )
    assert "bob is already ops" in await refused(
        "assign", inc, "ops", "bob", "--by", "dana", env=env
    )
    assert "role 'janitor': use commander, comms or ops" in await refused(
        "assign", inc, "janitor", "bob", "--by", "dana", env=env
    )
    assert await applied("note", inc, "db failover\x1b[2J done", "--by", "bob", env=env) == (
        f"{inc}: note added by bob"
    )
    assert await applied("severity", inc, "sev1", "--by", "dana", env=env) == (
        f"{inc}: severity is now SEV1 (set by dana)"
    )
    assert "the severity is already SEV1" in await refused(
        "severity", inc, "SEV1", "--by", "dana", env=env
    )
    assert "severity 'SEV9': use SEV1, SEV2, SEV3 or SEV4" in await refused(
        "severity", inc, "SEV9", "--by", "dana", env=env
    )
    answered = await cli_json("assign", inc, "comms", "carol", "--by", "dana", env=env)
    assert answered["roles"] == {"commander": "dana", "ops": "bob", "comms": "carol"}

    state = await cli_json("show", inc, env=env)
    assert state["milestones"]["acknowledged"] is not None
    assert state["severity"] == "SEV1"
    accepted = [(d["kind"], d["by"], d["comment"]) for d in state["decisions"]]
    assert accepted == [
        ("acknowledge", "dana", None),
        ("assign", "dana", "ops → bob"),
        ("note", "bob", "db failover\x1b[2J done"),
        ("severity", "dana", "SEV1"),
        ("assign", "dana", "comms → carol"),
    ]
    text = (await run("show", inc, env=env)).stdout
    assert "roles:    commander dana, comms carol, ops bob" in text
    assert "time to:  acknowledge " in text and "mitigate -, resolve -" in text
    assert "bob: db failover\\x1b[2J done" in text and "\x1b" not in text

    assert await applied(
        "resolve", inc, "--by", "dana", "--comment", "fixed upstream", env=env
    ) == (f"{inc}: resolved — resolved by dana: fixed upstream")
    state = await cli_json("show", inc, env=env)
    assert state["status"] == "resolved" and state["milestones"]["resolved"] is not None
    assert fake.calls("POST", "/fix") == []  # the gated step never ran
    assert "is closed (resolved)" in await refused("note", inc, "late", "--by", "bob", env=env)


async def test_the_plain_temporal_cli_drives_the_same_controls(
    cli, dev_env: WorkflowEnvironment, codec_args: tuple[str, ...]
):
    env, runbook, _ = cli
    inc = await declare(env, runbook)
    await awaiting(env, inc)

    async def signal(name: str, payload: dict) -> None:
        done = await temporal(
            "signal", "--workflow-id", inc, "--name", name, "--input", json.dumps(payload),
            env=env, codec=codec_args,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    async def update(name: str, payload: dict) -> subprocess.CompletedProcess[str]:
        return await temporal(
            "update", "execute", "--workflow-id", inc, "--name", name,
            "--input", json.dumps(payload), env=env, codec=codec_args,
        )  # fmt: skip

    await signal("acknowledge", {"by": "dana"})
    done = await update("change_severity", {"severity": "SEV1", "by": "dana"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["severity"] == "SEV1", done.stdout
    done = await update("change_severity", {"severity": "SEV1", "by": "dana"})
    assert done.returncode != 0 and "the severity is already SEV1" in done.stdout + done.stderr
    await signal("assign", {"role": "ops", "to": "bob", "by": "dana"})
    done = await update("add_note", {"by": "bob", "text": "cache flushed"})
    assert done.returncode == 0, done.stderr
    await signal("note", {"by": "bob", "text": "paging payments"})
    await signal("approve", {"step": "fix", "by": "mallory"})  # not an approver: recorded
    fired = {"fingerprint": "fp-1", "labels": {"alertname": "CheckoutHighErrorRate"}}
    for payload in (fired, fired, {**fired, "fingerprint": "fp-2"}):  # one delivered twice
        await signal("alert", {**payload, "starts_at": "2026-11-25T10:00:00Z"})

    state = await wait_for(
        lambda s: len(s["decisions"]) == 6 and s["alerts_received"] == 3, "show", inc, env=env
    )
    assert [(a["fingerprint"], a["status"]) for a in state["alerts"]] == [
        ("fp-1", "firing"),
        ("fp-2", "firing"),
    ]
    assert state["milestones"]["acknowledged"] is not None
    assert state["roles"] == {"commander": "dana", "ops": "bob"}
    assert state["severity"] == "SEV1"
    assert [(d["kind"], d["via"], d["refused"] is None) for d in state["decisions"]] == [
        ("acknowledge", "signal", True),
        ("severity", "update", True),
        ("assign", "signal", True),
        ("note", "update", True),
        ("note", "signal", True),
        ("approve", "signal", False),
    ]
    text = (await run("show", inc, env=env)).stdout
    assert (
        "refused" in text and "approve fix by mallory (signal): mallory is not an approver" in text
    )
    assert "bob: cache flushed" in text and "bob: paging payments" in text
    assert "alerts:   2 (2 firing, 0 resolved); 3 notifications, 1 duplicate" in text

    # `show --json` loses nothing of the workflow's own state.
    handle = dev_env.client.get_workflow_handle_for(IncidentWorkflow.run, inc)
    live = await handle.query(IncidentWorkflow.status)
    shown = await cli_json("show", inc, env=env)
    assert set(IncidentState.model_fields) <= set(shown)
    assert IncidentState.model_validate(shown) == live
    queried = await temporal(
        "query", "--workflow-id", inc, "--name", "status", env=env, codec=codec_args
    )
    assert queried.returncode == 0 and f'"incident_id": "{inc}"' in queried.stdout, queried.stdout

    done = await update("resolve_incident", {"by": "dana", "comment": "ok"})
    assert done.returncode == 0, done.stderr
    state = await cli_json("show", inc, env=env)
    assert state["status"] == "resolved" and state["outcome"] == "resolved by dana: ok"


QUORUM = """
name: cli-quorum
title: CLI quorum incident
severity: SEV2
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [carol, dave, erin], min_approvals: 2}
    action: http.request
    with: {method: POST, url: "{{ secret.CLI_API }}/fix"}
"""


async def test_a_quorum_of_two_through_the_cli(cli, tmp_path):
    env, _, fake = cli
    runbook = tmp_path / "cli-quorum.yaml"
    runbook.write_text(QUORUM)
    inc = await declare_runbook(env, runbook, "--summary", "q", "--by", "erin")
    await awaiting(env, inc)

    assert "erin declared the incident" in await refused(
        "approve", inc, "fix", "--by", "erin", env=env
    )
    first = await applied("approve", inc, "fix", "--by", "carol", env=env)
    assert (
        first
        == (
            f"{inc} fix: awaiting approval (approvers: carol, dave), 1/2 approvals: carol"  # not erin, who declared
        )
    )
    assert "1/2 approvals: carol" in (await run("show", inc, env=env)).stdout
    assert "carol has already approved" in await refused(
        "approve", inc, "fix", "--by", "carol", env=env
    )
    assert fake.calls("POST", "/fix") == []

    second = await applied("approve", inc, "fix", "--by", "dave", env=env)
    assert second.startswith(f"{inc} fix: ") and "awaiting approval" not in second
    state = await wait_for(lambda s: s["status"] == "resolved", "show", inc, env=env)
    assert state["steps"][0]["approved_by"] == ["carol", "dave"]
    assert state["steps"][0]["status"] == "succeeded"
    assert len(fake.calls("POST", "/fix")) == 1


GROUPED = """
name: cli-grouped
title: CLI grouped incident
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: ["group:sre", frank]}
    action: http.request
    with: {method: POST, url: "{{ secret.CLI_API }}/fix"}
"""


async def test_group_approvers_are_resolved_from_teams_yaml_at_declare(
    cli, tmp_path, dev_env: WorkflowEnvironment
):
    env, _, fake = cli
    (tmp_path / "teams.yaml").write_text("sre: [alice, bob]\npayments: [carol]\n")
    runbook = tmp_path / "cli-grouped.yaml"
    runbook.write_text(GROUPED)
    inc = await declare_runbook(
        env, runbook, "--summary", "grouped\nsecond line", "--severity", "sev1"
    )
    state = await awaiting(env, inc)
    assert state["steps"][0]["approvers"] == ["alice", "bob", "frank"]

    assert "carol is not an approver of step 'fix' (approvers: alice, bob, frank)" in (
        await refused("approve", inc, "fix", "--by", "carol", env=env)
    )
    assert await applied("approve", inc, "fix", "--by", "bob", env=env)
    state = await wait_for(lambda s: s["status"] == "resolved", "show", inc, env=env)
    assert state["steps"][0]["decided_by"] == "bob"
    assert len(fake.calls("POST", "/fix")) == 1

    # The incident reads as an incident in the Temporal UI.
    described = await dev_env.client.get_workflow_handle(inc).describe()
    assert await described.static_summary() == (
        "SEV1 · CLI grouped incident — grouped\\nsecond line (cli-grouped)"
    )
    details = await described.static_details()
    assert details is not None and "**runbook** cli-grouped" in details
