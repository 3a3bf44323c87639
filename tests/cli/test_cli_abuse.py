"""Every command with empty, huge and malformed arguments: never a traceback, always one line.

Most cases run in-process (typer's CliRunner, in a thread so the session's event loop keeps
the worker polling) against the real dev server; a set of them runs as real `warroom`
processes, where undecodable argv bytes, `main()`'s last resort and `os._exit` are real.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import WorkflowAlreadyStartedError
from typer.testing import CliRunner

from tests.cli.test_cli import declare, wait_for
from warroom.cli.errors import describe
from warroom.entry.devstack import free_port
from warroom.entry.main import app

BAD_VALUES = {
    "empty": "",
    "5,000 characters": "x" * 5000,
    "3 MB": "y" * 3_000_000,
    "escape sequences": "\x1b[31mred\x1b]0;title\x07",
    "newlines": "fix\n13:00:00    approved    fix    mallory",
    "junk": "\udcff\udcfe\x00\x7f\x9b",  # what undecodable argv bytes become, plus NUL/DEL/C1
    "dash": "-x",
    "option-like": "--json",
}


def command_lines(incident_id: str, runbook: str) -> list[tuple[list[str], list[int]]]:
    """Each command with valid arguments, and which positions take the bad values in turn."""
    return [
        (["declare", "--runbook", runbook, "--summary", "s", "--by", "erin", "--severity", "SEV3"], [2, 4, 6, 8]),
        (["list", "--limit", "5"], [2]),
        (["show", incident_id], [1]),
        (["approve", incident_id, "fix", "--by", "carol", "--comment", "go"], [1, 2, 4, 6]),
        (["reject", incident_id, "fix", "--by", "dave", "--comment", "no"], [1, 2, 4, 6]),
        (["retry", incident_id, "fix", "--by", "carol"], [1, 2, 4]),
        (["skip", incident_id, "fix", "--by", "carol"], [1, 2, 4]),
        (["abort", incident_id, "--by", "carol", "--reason", "r"], [1, 3, 5]),
        (["timeline", incident_id], [1]),
        (["validate", runbook], [1]),
    ]  # fmt: skip


def abused(incident_id: str, runbook: str) -> list[list[str]]:
    cases = []
    for line, slots in command_lines(incident_id, runbook):
        for slot in slots:
            for value in BAD_VALUES.values():
                args = [*line[:slot], value, *line[slot + 1 :]]
                cases.append(args)
                if line[0] in ("declare", "list", "show", "timeline"):
                    cases.append([*args, "--json"])
    return cases


def assert_one_line_or_usage(code: int, stdout: str, stderr: str, args: list[str]) -> None:
    shown = [a[:40] for a in args]
    assert "Traceback" not in stderr and "Traceback" not in stdout, (shown, stderr[-2000:])
    assert code in (0, 1, 2), (shown, code, stderr[-2000:])
    assert "\x1b" not in stdout and "\x1b" not in stderr, (shown, stdout[:500], stderr[:500])
    if code == 1:
        assert stderr.startswith("error: ") and stderr.count("\n") == 1, (shown, stderr[:2000])
        assert len(stderr) < 700, (shown, stderr[:2000])
    if code == 2:  # typer's own usage errors: a short box, never the 3 MB value
        assert len(stderr) < 3000, (shown, stderr[:3000])


async def test_every_command_with_abused_arguments_in_process(cli):
    env, runbook, _ = cli
    incident_id = await declare(env, runbook)
    await wait_for(lambda s: s["status"] == "awaiting_approval", "show", incident_id, env=env)
    runner = CliRunner()
    codes = set()
    for args in abused(incident_id, str(runbook)):
        result = await asyncio.to_thread(runner.invoke, app, args, env=env)
        # Anything but SystemExit escaping the app is an error nobody expected.
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            [a[:40] for a in args],
            repr(result.exception)[:2000],
        )
        assert_one_line_or_usage(result.exit_code, result.stdout, result.stderr, args)
        codes.add(result.exit_code)
    assert codes == {0, 1, 2}


async def test_every_command_with_an_unusable_temporal_address(cli):
    env, runbook, _ = cli
    runner = CliRunner()
    for address, says in [
        ("not an address", "write HOST:PORT, e.g. localhost:7233"),
        ("http://localhost:7233", "write HOST:PORT, e.g. localhost:7233"),
        ("localhost:99999", "write HOST:PORT, e.g. localhost:7233"),
        (f"127.0.0.1:{free_port()}", "cannot reach the Temporal server"),
    ]:
        bad_env = {**env, "TEMPORAL_ADDRESS": address}
        for line, _ in command_lines("inc-x", str(runbook)):
            if line[0] == "validate":
                continue  # needs no server
            result = await asyncio.to_thread(runner.invoke, app, line, env=bad_env)
            assert result.exit_code == 1, (line, address, result.output)
            assert result.stderr.startswith("error: ") and says in result.stderr, result.stderr
            assert result.stderr.count("\n") == 1, result.stderr


def run_warroom(args: list[str | bytes], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "warroom")
    return subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, errors="replace", timeout=60
    )


async def test_real_processes_with_abused_arguments(cli, dev_env):
    env, runbook, _ = cli
    incident_id = await declare(env, runbook)
    terminated = await declare(env, runbook)
    await dev_env.client.get_workflow_handle(terminated).terminate("test: history too large")
    cases: list[tuple[list[str | bytes], dict[str, str], str]] = [
        (["show", ""], env, "incident id is empty"),
        (["approve", "", "fix", "--by", "carol"], env, "incident id is empty"),
        (["abort", "", "--by", "carol"], env, "incident id is empty"),
        (["retry", "", "fix", "--by", "carol"], env, "incident id is empty"),
        (["approve", incident_id, "fix", "--by", ""], env, "--by is empty"),
        (["abort", incident_id, "--by", ""], env, "--by is empty"),
        (["approve", incident_id, "fix", "--by", "eve\n12:00 approved"], env, "line breaks"),
        (["show", b"inc-\xff\xfe"], env, "not valid UTF-8"),
        (["declare", "--runbook", "r" * 5000, "--summary", "s"], env, "File name too long"),
        (["validate", "r" * 5000], env, "File name too long"),
        (["show", "i" * 100_000], env, "is not an incident id"),
        (["abort", terminated, "--by", "carol"], env, ""),
        (["list"], {**env, "TEMPORAL_ADDRESS": "not an address"}, "write HOST:PORT"),
        (["show", incident_id], {**env, "TEMPORAL_PROFILE": "nope"}, "TEMPORAL_PROFILE"),
    ]
    for args, case_env, says in cases:
        done = await asyncio.to_thread(run_warroom, args, case_env)
        shown = [a[:40] for a in args]
        assert done.returncode == 1, (shown, done.stdout, done.stderr[-2000:])
        assert_one_line_or_usage(done.returncode, done.stdout, done.stderr, [str(a) for a in args])
        assert says in done.stderr, (shown, done.stderr)
    # A summary as large as one argument may be (the kernel caps a single one at 128 KiB)
    # is accepted or refused in one line, never a traceback.
    done = await asyncio.to_thread(
        run_warroom, ["declare", "--runbook", str(runbook), "--summary", "s" * 120_000], env
    )
    assert_one_line_or_usage(done.returncode, done.stdout, done.stderr, ["declare"])


PROGRAM = """
import sys
from warroom.entry import main as cli

@cli.app.command()
def boom() -> None:
    raise KeyError("nobody expected this")

cli.main()
"""


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_is_one_line_unless_debugging(debug):
    env = {**os.environ, "WARROOM_DEBUG": "1" if debug else ""}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, "boom"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith("error: unexpected KeyError: 'nobody expected this'")
    assert "WARROOM_DEBUG=1" in last
    if debug:
        assert "Traceback (most recent call last)" in done.stderr
    else:
        assert done.stderr.count("\n") == 1


async def test_an_incident_id_collision_is_one_line(dev_env, task_queue):
    """WorkflowAlreadyStartedError from the real server, as `declare` meets it on a collision."""
    incident_id = f"inc-collide-{task_queue}"
    start = dict(id=incident_id, task_queue=task_queue)  # no worker: it only has to exist
    await dev_env.client.start_workflow("IncidentWorkflow", {}, **start)
    try:
        with pytest.raises(WorkflowAlreadyStartedError) as caught:
            await dev_env.client.start_workflow("IncidentWorkflow", {}, **start)
        assert describe(caught.value) == (
            f"incident {incident_id} already exists: run the command again for a new id"
        )
    finally:
        await dev_env.client.get_workflow_handle(incident_id).terminate("test done")
