"""exec: the allow-list, argv passed literally (no shell), exit codes, bounded output, and the
whole process group killed on timeout and on cancellation."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.exec import MAX_OUTPUT, exec_program
from tests.activities.actions import action_input, activity_env, failure, run, run_action

PY = Path(sys.executable).name  # the program the tests run, by name, as a runbook would


@pytest.fixture(autouse=True)
def allow_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("WARROOM_EXEC_ALLOW", f"no-such-tool-4f2a, {PY}")


def python(code: str, *args: str, **more: Any) -> dict[str, Any]:
    return {"command": [PY, "-c", code, *args], **more}


def tree(pids: Path) -> str:
    """Code for a program whose child starts a grandchild that ignores SIGTERM; all record pids."""
    grandchild = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(600)"
    )
    child = (
        f"import os, subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {grandchild!r}]); "
        f"open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(600)"
    )
    return (
        f"import os, subprocess, sys; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); "
        f"subprocess.run([sys.executable, '-c', {child!r}])"
    )


def alive(pid: int) -> bool:
    """Running and not a zombie (a killed orphan may wait a moment for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def recorded(pids: Path) -> list[int]:
    return [int(p) for p in pids.read_text().split()] if pids.exists() else []


def entries(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def started(pids: Path, count: int = 3) -> list[int]:
    for _ in range(600):  # a bound against hanging, not a timing assertion
        if len(found := recorded(pids)) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"the process tree did not start: {recorded(pids)}")


async def all_gone(pids: list[int]) -> bool:
    for _ in range(100):  # a bounded wait for the kernel and init, not a timing assertion
        if not any(alive(p) for p in pids):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_runs_an_allowed_program_and_keeps_its_output():
    result = await run(
        exec_program, python("import sys; print('out'); print('err', file=sys.stderr)")
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, "out\n", "err\n")


async def test_shell_metacharacters_arrive_as_literal_arguments(tmp_path: Path):
    args = ["; touch pwned", "$(touch pwned)", "a | touch pwned", "`touch pwned`", "*", "&&", "'\""]
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"
    result = await run(exec_program, python(code, *args, cwd=str(tmp_path)))
    assert json.loads(result.stdout) == args
    assert entries(tmp_path) == []


@pytest.mark.parametrize(
    "command",
    [
        ["touch", "marker"],
        [sys.executable, "-c", "open('marker', 'w')"],  # an allowed name, but as a path
        ["sh", "-c", "touch marker"],
        ["no-such-tool-4f2a"],
    ],
    ids=["not-allowed", "a-path", "a-shell", "allowed-but-missing"],
)
async def test_refused_before_start_and_not_retried(tmp_path: Path, command: list[str]):
    err = await failure(exec_program, {"command": command, "cwd": str(tmp_path)})
    assert err.type == "warroom.ExecRefused"
    assert err.non_retryable
    assert entries(tmp_path) == []


async def test_nothing_is_allowed_without_an_allow_list(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("WARROOM_EXEC_ALLOW")
    err = await failure(exec_program, python("print(1)"))
    assert err.type == "warroom.ExecRefused"
    assert "allows nothing" in err.message


async def test_non_zero_exit_is_a_retryable_failure_with_the_stderr_tail():
    err = await failure(exec_program, python("import sys; sys.exit('deployment not found')"))
    assert err.type == "warroom.ExecFailed"
    assert not err.non_retryable
    assert "exited with 1; stderr ends: deployment not found" in err.message


async def test_allowed_exit_codes_are_results():
    result = await run(exec_program, python("raise SystemExit(3)", allowed_exit_codes=[3]))
    assert result.exit_code == 3


async def test_output_keeps_a_bounded_tail():
    code = "print('x' * 100_000); print('the end')"
    result = await run(exec_program, python(code))
    assert len(result.stdout.encode()) <= MAX_OUTPUT
    assert result.stdout.endswith("x" * 100 + "\nthe end\n")


async def test_env_and_cwd_are_the_steps_and_worker_secrets_stay_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_SECRET_DEPLOY_TOKEN", "tok-123")
    code = "import os, json; print(json.dumps([os.getcwd(), dict(os.environ)]))"
    result = await run(
        exec_program,
        python(code, cwd=str(tmp_path), env={"TOKEN": "{{ secret.DEPLOY_TOKEN }}"}),
    )
    cwd, env = json.loads(result.stdout)
    assert cwd == str(tmp_path)
    assert env["TOKEN"] == "***"  # the program got the value; the result never carries it
    assert not any(k.startswith("WARROOM_") for k in env)


async def test_timeout_kills_the_whole_process_group(tmp_path: Path):
    pids_file = tmp_path / "pids"
    task = asyncio.create_task(run(exec_program, python(tree(pids_file), timeout="3s")))
    pids = await started(pids_file)
    with pytest.raises(ApplicationError) as caught:
        await asyncio.wait_for(task, 60)  # a guard against hanging, not a timing assertion
    assert caught.value.type == "warroom.ExecTimedOut"
    assert caught.value.non_retryable
    assert await all_gone(pids)


async def test_cancellation_kills_the_whole_process_group(tmp_path: Path):
    pids_file = tmp_path / "pids"
    env = activity_env()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    task = asyncio.create_task(env.run(exec_program, action_input(python(tree(pids_file)))))
    pids = await started(pids_file)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 60)  # a guard against hanging, not a timing assertion
    assert await all_gone(pids)
    # It heartbeats while the program runs: its pid, and its group's (its supervisor's).
    assert beats and beats[0][0]["pid"] == pids[0] and beats[0][0]["pgid"] != pids[0]


async def test_the_program_gets_the_steps_idempotency_key():
    code = "import os; print(os.environ.get('WARROOM_IDEMPOTENCY_KEY'))"
    inp = action_input(python(code)).model_copy(update={"idempotency_key": "inc-1:rollout"})
    result = await run_action(exec_program, inp)
    assert result.stdout == "inc-1:rollout\n"
    own = action_input(python(code, env={"WARROOM_IDEMPOTENCY_KEY": "mine"}))
    own = own.model_copy(update={"idempotency_key": "inc-1:rollout"})
    assert (await run_action(exec_program, own)).stdout == "mine\n"  # the step's env wins
    assert (await run(exec_program, python(code))).stdout == "None\n"  # no step, no key


async def test_a_program_that_cannot_be_executed_is_refused_and_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "garbled").write_bytes(b"\x7fELF not really")
    (tmp_path / "garbled").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("WARROOM_EXEC_ALLOW", "garbled")
    err = await failure(exec_program, {"command": ["garbled"]})
    assert err.type == "warroom.ExecRefused" and err.non_retryable
    assert "cannot start garbled: Exec format error" in err.message


async def test_a_program_killed_by_a_signal_reports_it_as_its_exit_code():
    result = await run(
        exec_program, python("import os; os.kill(os.getpid(), 15)", allowed_exit_codes=[-15])
    )
    assert result.exit_code == -15
