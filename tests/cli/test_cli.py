"""The `warroom` CLI as a user runs it: real subprocesses against a real dev server and worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import installed_binary
from tests.fakehttp import Reply
from warroom.entry.devstack import free_port


def warroom(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "warroom")
    return subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


async def cli_json(*args: str, env: dict[str, str]) -> object:
    done = await asyncio.to_thread(warroom, *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def wait_for(predicate, *args: str, env: dict[str, str]):
    for _ in range(100):
        state = await cli_json(*args, env=env)
        if predicate(state):
            return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition never held; last state: {state}")


async def declare_runbook(env, runbook, *args: str) -> str:
    """Declare an incident on the runbook file with `warroom declare ARGS`; its id."""
    done = await asyncio.to_thread(warroom, "declare", "--runbook", str(runbook), *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def declare(env, runbook) -> str:
    incident_id = await declare_runbook(env, runbook, "--summary", "checkout down", "--by", "erin")
    assert incident_id.startswith("inc-cli-gated-")
    return incident_id


async def test_declare_show_approve_timeline_list(cli):
    env, runbook, fake = cli
    incident_id = await declare(env, runbook)

    state = await wait_for(
        lambda s: s["status"] == "awaiting_approval", "show", incident_id, env=env
    )
    assert state["pending_approvals"] == ["fix"]
    assert [s["status"] for s in state["steps"]] == ["succeeded", "awaiting_approval"]
    assert state["steps"][0]["attempts"] == 1
    assert state["severity"] == "SEV3" and state["declared_by"] == "erin"
    assert fake.calls("POST", "/fix") == []

    text = await asyncio.to_thread(warroom, "show", incident_id, env=env)
    assert (
        "waiting for approval" in text.stdout
        and f"warroom approve {incident_id} fix" in text.stdout
    )

    done = await asyncio.to_thread(
        warroom, "approve", incident_id, "fix", "--by", "carol", "--comment", "go", env=env
    )
    assert done.returncode == 0, done.stderr
    state = await wait_for(lambda s: s["status"] == "resolved", "show", incident_id, env=env)
    assert state["steps"][1] == {**state["steps"][1], "status": "succeeded", "decided_by": "carol"}
    assert len(fake.calls("POST", "/fix")) == 1

    # `resolved` shows before the final status update and the workflow's completion event.
    entries = await wait_for(
        lambda e: e[-1]["event"].startswith("closed"), "timeline", incident_id, env=env
    )
    events = [(e["event"], e["step"], e["actor"]) for e in entries]
    assert events[0] == ("declared", None, "erin")
    assert ("approved", "fix", "carol") in events
    assert ("step succeeded", "fix", None) in events
    assert entries[-1]["event"] == "closed: resolved"

    listed = await cli_json("list", env=env)
    assert incident_id in [i["incident_id"] for i in listed]

    late = await asyncio.to_thread(warroom, "approve", incident_id, "fix", "--by", "dave", env=env)
    assert late.returncode == 1
    assert late.stderr == f"error: incident {incident_id} is closed (resolved)\n"


async def test_reject_ends_the_incident(cli):
    env, runbook, fake = cli
    incident_id = await declare(env, runbook)
    await wait_for(lambda s: s["status"] == "awaiting_approval", "show", incident_id, env=env)
    done = await asyncio.to_thread(
        warroom, "reject", incident_id, "fix", "--by", "dave", "--comment", "too risky", env=env
    )
    assert done.returncode == 0, done.stderr
    state = await wait_for(lambda s: s["status"] == "aborted", "show", incident_id, env=env)
    assert state["outcome"] == "fix rejected by dave: too risky"
    assert fake.calls("POST", "/fix") == []


async def test_refusals_are_one_line_errors(cli):
    env, runbook, _ = cli
    incident_id = await declare(env, runbook)
    await wait_for(lambda s: s["status"] == "awaiting_approval", "show", incident_id, env=env)

    cases = [
        (("approve", incident_id, "nope", "--by", "carol"), "no step 'nope'"),
        (
            ("approve", incident_id, "fix", "--by", "mallory"),
            "mallory is not an approver of step 'fix'",
        ),
        (("approve", incident_id, "look", "--by", "carol"), "needs no approval"),
        (
            ("approve", "inc-does-not-exist", "fix", "--by", "carol"),
            "no incident 'inc-does-not-exist'",
        ),
        (("show", "inc-does-not-exist"), "no incident 'inc-does-not-exist'"),
        (("timeline", "inc-does-not-exist"), "no incident 'inc-does-not-exist'"),
    ]
    for args, message in cases:
        done = await asyncio.to_thread(warroom, *args, env=env)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback

    state = await cli_json("show", incident_id, env=env)
    assert state["status"] == "awaiting_approval"  # nothing refused changed anything


def test_unreachable_server_says_to_run_warroom_dev():
    env = {**os.environ, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    done = warroom("list", env=env)
    assert done.returncode == 1
    assert "cannot reach the Temporal server" in done.stderr and "warroom dev" in done.stderr
    assert done.stderr.count("\n") == 1


def test_malformed_runbook_is_refused_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ntitle: Bad\nsteps:\n  - id: a\n    phase: triage\n    actoin: http.request\n"
    )
    done = warroom("declare", "--runbook", str(bad), "--summary", "x", env=dict(os.environ))
    assert done.returncode == 1
    assert f"{bad}:6:" in done.stderr and "did you mean 'action'" in done.stderr


async def test_plain_temporal_cli_signal_approves(cli, dev_env):
    env, runbook, fake = cli
    incident_id = await declare(env, runbook)
    await wait_for(lambda s: s["status"] == "awaiting_approval", "show", incident_id, env=env)
    signal = [
        installed_binary("temporal"), "workflow", "signal",
        "--address", env["TEMPORAL_ADDRESS"],
        "--workflow-id", incident_id,
        "--name", "approve",
        "--input", '{"step": "fix", "by": "dave"}',
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, signal, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    state = await wait_for(lambda s: s["status"] == "resolved", "show", incident_id, env=env)
    assert state["steps"][1]["decided_by"] == "dave"
    assert len(fake.calls("POST", "/fix")) == 1


@pytest.mark.slow
async def test_read_command_exits_cleanly_every_time(cli):
    """temporalio/sdk-python#300: teardown can abort a short-lived client; the CLI must not care."""
    env, runbook, _ = cli
    await declare(env, runbook)
    codes = []
    for _ in range(30):
        done = await asyncio.to_thread(warroom, "list", "--json", env=env)
        codes.append(done.returncode)
        assert "Fatal Python error" not in done.stderr
        json.loads(done.stdout)
    assert codes == [0] * 30


FLAKY = """
name: cli-flaky
title: CLI flaky incident
steps:
  - {id: flag, phase: mitigate, action: http.request, with: {method: POST, url: "{{ secret.CLI_API }}/flag"}}
  - {id: verify, phase: verify, action: http.request, with: {url: "{{ secret.CLI_API }}/look"}}
"""


async def test_a_failed_step_pauses_and_skip_retry_abort_drive_it(cli, tmp_path):
    env, _, fake = cli
    fake.routes[("POST", "/flag")] = Reply(400, {"error": "unknown flag"})
    runbook = tmp_path / "cli-flaky.yaml"
    runbook.write_text(FLAKY)

    async def paused_incident() -> str:
        done = await asyncio.to_thread(
            warroom, "declare", "--runbook", str(runbook), "--summary", "flaky", env=env
        )
        assert done.returncode == 0, done.stderr
        incident_id = done.stdout.strip()
        await wait_for(lambda s: s["status"] == "paused", "show", incident_id, env=env)
        return incident_id

    first = await paused_incident()
    text = await asyncio.to_thread(warroom, "show", first, env=env)
    assert f"paused on flag: warroom retry|skip {first} flag" in text.stdout
    refused = await asyncio.to_thread(warroom, "skip", first, "verify", "--by", "bo", env=env)
    assert refused.returncode == 1 and "has not failed (it is pending)" in refused.stderr
    done = await asyncio.to_thread(warroom, "skip", first, "flag", "--by", "bo", env=env)
    assert done.returncode == 0, done.stderr
    state = await wait_for(lambda s: s["status"] == "resolved", "show", first, env=env)
    assert [s["status"] for s in state["steps"]] == ["skipped", "succeeded"]

    second = await paused_incident()
    fake.routes[("POST", "/flag")] = Reply(200, {"ok": True})
    done = await asyncio.to_thread(warroom, "retry", second, "flag", "--by", "bo", env=env)
    assert done.returncode == 0, done.stderr
    state = await wait_for(lambda s: s["status"] == "resolved", "show", second, env=env)
    assert state["steps"][0]["status"] == "succeeded" and state["steps"][0]["attempts"] == 2

    fake.routes[("POST", "/flag")] = Reply(400, {"error": "unknown flag"})
    third = await paused_incident()
    done = await asyncio.to_thread(
        warroom, "abort", third, "--by", "bo", "--reason", "by hand", env=env
    )
    assert done.returncode == 0, done.stderr
    state = await wait_for(lambda s: s["status"] == "aborted", "show", third, env=env)
    assert state["outcome"] == "aborted by bo: by hand"
    again = await asyncio.to_thread(warroom, "abort", third, "--by", "bo", env=env)
    assert again.returncode == 1 and "is closed (aborted)" in again.stderr


def test_validate_checks_every_runbook_given(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntitle: Bad\nsteps: []\n")
    done = warroom("validate", "demo-checkout", str(bad), env=dict(os.environ))
    assert done.returncode == 1
    assert "ok: demo-checkout (demo-checkout, 4 steps)" in done.stdout
    assert f"{bad}:3:8: steps:" in done.stderr


async def worker_process(dev_env, task_queue, fake_http):
    """A real `warroom worker` on the test dev server, and the env of CLI processes beside it."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WARROOM_TASK_QUEUE": task_queue,
        "WARROOM_SECRET_CLI_API": fake_http.url,
    }
    exe = str(Path(sys.executable).parent / "warroom")
    proc = await asyncio.to_thread(
        subprocess.Popen, [exe, "worker"], env=env, stdout=subprocess.PIPE, text=True
    )
    return env, proc


async def test_warroom_worker_runs_incidents_and_stops_on_ctrl_c(
    dev_env, task_queue, fake_http, monkeypatch, tmp_path
):
    """`warroom worker` against a server someone else runs (here: the test dev server)."""
    fake_http.routes[("GET", "/look")] = Reply(200, {"ok": True})
    runbook = tmp_path / "solo.yaml"
    runbook.write_text(
        "name: solo\ntitle: Solo\nsteps:\n"
        '  - {id: look, phase: triage, action: http.request, with: {url: "{{ secret.CLI_API }}/look"}}\n'
    )
    env, proc = await worker_process(dev_env, task_queue, fake_http)
    try:
        done = await asyncio.to_thread(
            warroom, "declare", "--runbook", str(runbook), "--summary", "solo", env=env
        )
        assert done.returncode == 0, done.stderr
        state = await wait_for(
            lambda s: s["status"] == "resolved", "show", done.stdout.strip(), env=env
        )
        assert state["steps"][0]["status"] == "succeeded"
        assert len(fake_http.calls("GET", "/look")) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 0
    assert f"polling task queue '{task_queue}'" in out


async def test_show_reports_the_live_attempt_of_a_retrying_step(cli, tmp_path):
    env, _, fake = cli
    fake.routes[("POST", "/flag")] = Reply(503, {"error": "flag service warming up"})
    runbook = tmp_path / "cli-retrying.yaml"
    runbook.write_text(
        "name: cli-retrying\ntitle: Retrying\nsteps:\n"
        "  - id: flag\n    phase: mitigate\n    action: http.request\n"
        '    with: {method: POST, url: "{{ secret.CLI_API }}/flag"}\n'
        "    retry: {max_attempts: 100, initial_interval: 1s, backoff: 1.0}\n"
    )
    done = await asyncio.to_thread(
        warroom, "declare", "--runbook", str(runbook), "--summary", "retrying", env=env
    )
    assert done.returncode == 0, done.stderr
    incident_id = done.stdout.strip()
    state = await wait_for(lambda s: s["steps"][0]["attempts"] >= 2, "show", incident_id, env=env)
    flag = state["steps"][0]
    assert flag["status"] == "running"
    assert "answered 503" in flag["error"] and "flag service warming up" in flag["error"]
    text = await asyncio.to_thread(warroom, "show", incident_id, env=env)
    assert "last error: warroom.HttpStatusError" not in text.stdout  # the message, not the type
    assert "running since" in text.stdout and "last error: POST" in text.stdout

    fake.routes[("POST", "/flag")] = Reply(200, {"ok": True})
    state = await wait_for(lambda s: s["status"] == "resolved", "show", incident_id, env=env)
    assert state["steps"][0]["attempts"] == len(fake.calls("POST", "/flag"))


async def test_control_characters_cannot_repaint_the_terminal_or_forge_rows(cli):
    env, runbook, _ = cli
    forged = "\n12:00:00    approved      fix             mallory"
    done = await asyncio.to_thread(
        warroom, "declare", "--runbook", str(runbook),
        "--summary", f"red\x1b[31m title\x1b]0;pwned\x07{forged}", "--by", "erin", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    incident_id = done.stdout.strip()
    await wait_for(lambda s: s["status"] == "awaiting_approval", "show", incident_id, env=env)
    # A name with a line break, sent past warroom's own checks with the plain Temporal CLI.
    signal = [
        installed_binary("temporal"), "workflow", "signal",
        "--address", env["TEMPORAL_ADDRESS"], "--workflow-id", incident_id, "--name", "approve",
        "--input", json.dumps({"step": "fix", "by": f"eve{forged}"}),
    ]  # fmt: skip
    sent = await asyncio.to_thread(subprocess.run, signal, capture_output=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    done = await asyncio.to_thread(
        warroom, "approve", incident_id, "fix", "--by", "carol",
        "--comment", f"go\x1b[2J{forged}", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = await wait_for(
        lambda e: e[-1]["event"].startswith("closed"), "timeline", incident_id, env=env
    )
    # A name must be one line, so the workflow ignores that signal and the timeline says so.
    assert any(e["event"] == "malformed signal ignored" for e in entries), entries

    shown = await asyncio.to_thread(warroom, "show", incident_id, env=env)
    timeline = await asyncio.to_thread(warroom, "timeline", incident_id, env=env)
    for out in (shown.stdout, timeline.stdout):
        assert "\x1b" not in out and "\x07" not in out
        assert not any(line.startswith("12:00:00") for line in out.splitlines()), out
    assert "red\\x1b[31m title\\x1b]0;pwned\\x07\\n12:00:00" in shown.stdout
    assert "go\\x1b[2J\\n12:00:00" in timeline.stdout
    assert len(timeline.stdout.splitlines()) == len(entries) + 1  # header + one row per entry

    refused = await asyncio.to_thread(
        warroom, "approve", incident_id, "fix", "--by", f"carol{forged}", env=env
    )
    assert refused.returncode == 1
    assert (
        refused.stderr.startswith("error: --by 'carol\\n12:00:00")
        and refused.stderr.count("\n") == 1
    )


async def test_sigterm_lets_the_running_step_finish_and_the_worker_exits_0(
    dev_env, task_queue, fake_http, tmp_path
):
    """systemd and Kubernetes stop with SIGTERM: stop polling, finish what runs, exit 0."""
    started, release = threading.Event(), threading.Event()

    def slow(_request):
        started.set()
        release.wait(60)
        return Reply(200, {"ok": True})

    fake_http.routes[("GET", "/slow")] = slow
    runbook = tmp_path / "slow.yaml"
    runbook.write_text(
        "name: slow\ntitle: Slow\nsteps:\n"
        "  - id: drain\n    phase: mitigate\n    action: http.request\n"
        '    with: {url: "{{ secret.CLI_API }}/slow"}\n    retry: none\n    timeout: 2m\n'
    )
    env, proc = await worker_process(dev_env, task_queue, fake_http)
    assert proc.stdout is not None
    try:
        incident_id = await declare_runbook(env, runbook, "--summary", "slow")
        assert await asyncio.to_thread(started.wait, 60), "the step never reached the server"
        proc.send_signal(signal.SIGTERM)
        lines = [await asyncio.to_thread(proc.stdout.readline) for _ in range(2)]
        assert "SIGTERM: stopping" in lines[1], lines  # the worker got it while the step ran
        release.set()
        out, _ = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert out.strip().splitlines()[-1] == "worker: stopped"
    # The step's result reached the server although the worker was stopping.
    entries = await cli_json("timeline", incident_id, env=env)
    assert ("step succeeded", "drain") in [(e["event"], e["step"]) for e in entries]
    assert len(fake_http.calls("GET", "/slow")) == 1
