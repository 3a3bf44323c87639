"""`warroom oncall …` against the dev server and a worker that started the schedules of an
oncall.yaml: in-process (typer's CliRunner, in a thread so the session's event loop keeps the
worker polling), and `validate` as a real `warroom` process."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from tests.cli.test_cli import warroom
from tests.oncall.fixtures import EXAMPLE, NAMES
from warroom.entry.main import app
from worker import build_worker, start_schedules

Env = dict[str, str]


@pytest.fixture
async def oncall_env(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Env]:
    """The issue's example schedule (renamed per test), started by the worker start."""
    name = f"sre-{task_queue[-8:]}"
    (tmp_path / "oncall.yaml").write_text(EXAMPLE.replace("sre-primary", name))
    (tmp_path / "people.yaml").write_text(
        "".join(f"{n}: {{name: {n.title()} Doe, email: {n}@example.com}}\n" for n in NAMES)
    )
    monkeypatch.setenv("WARROOM_ONCALL", str(tmp_path / "oncall.yaml"))
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WARROOM_TASK_QUEUE": task_queue,
        "WARROOM_ONCALL": str(tmp_path / "oncall.yaml"),
        "ONCALL_NAME": name,
    }
    async with build_worker(dev_env.client, task_queue):
        assert await start_schedules(dev_env.client, task_queue) == [name]
        yield env
    await dev_env.client.get_workflow_handle(f"oncall-{name}").terminate()


async def run(*args: str, env: Env) -> tuple[int, str, str]:
    done = await asyncio.to_thread(CliRunner().invoke, app, ["oncall", *args], env=env)
    return done.exit_code, done.stdout, done.stderr


async def test_now_shifts_and_an_override(oncall_env: Env) -> None:
    name = oncall_env["ONCALL_NAME"]
    # Wednesday 2 December 2026, 12:00 in Berlin: alice's week, no evening layer.
    code, out, err = await run("now", name, "--at", "2026-12-02 12:00", "--json", env=oncall_env)
    assert code == 0, err
    [answer] = json.loads(out)
    assert answer["who"] == "alice" and answer["layer"] == 0
    assert answer["until"] == "2026-12-02T17:00:00Z"  # 18:00 CET the evening layer takes over

    code, out, err = await run("now", "--at", "2026-12-02T19:00Z", env=oncall_env)
    assert code == 0, err
    assert name in out and "dave (Dave Doe)" in out and "layer 2" in out

    later = datetime.now(UTC) + timedelta(days=2)
    start = later.strftime("%Y-%m-%d 10:00")
    until = (later + timedelta(days=1)).strftime("%Y-%m-%d 10:00")
    args = ["--from", start, "--until", until, "--by", "alice", "--reason", "swap"]
    code, out, err = await run("override", name, "--who", "zoe", *args, env=oncall_env)
    assert code == 0, err
    assert "override o1: zoe is on call" in out
    assert f"note: zoe is not in {name}'s rotation; the override stands" in out
    assert "zoe is not in people.yaml: no shift notice or page reaches them" in out

    code, out, err = await run("override", name, "--who", "bob", *args, env=oncall_env)
    assert code == 1 and err.startswith("error: ") and "overlaps o1: zoe" in err
    assert len(err.strip().splitlines()) == 1

    code, out, err = await run(
        "override", name, "--who", "bob", *args, "--replace", "--json", env=oncall_env
    )
    assert code == 0, err
    replaced = json.loads(out)
    assert replaced["override"]["id"] == "o2" and replaced["replaced"][0]["id"] == "o1"

    code, out, err = await run("shifts", name, "--days", "4", env=oncall_env)
    assert code == 0, err
    marked = [line for line in out.splitlines() if line.startswith("* ")]
    assert len(marked) == 1 and "bob" in marked[0] and "override o2 by alice: swap" in marked[0]
    code, out, err = await run("shifts", name, "--days", "4", "--json", env=oncall_env)
    listed = json.loads(out)["shifts"]
    assert [s["override"]["id"] for s in listed if s["override"]] == ["o2"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["now", "nope"], "error: no schedule 'nope'; schedules in oncall.yaml: sre-"),
        (["now", "--at", "tomorrow-ish"], "error: 'tomorrow-ish' is not a time"),
        (
            [
                "override",
                "SCHED",
                "--who",
                "bob",
                "--from",
                "2030-01-02 09:00",
                "--until",
                "2030-01-01 09:00",
                "--by",
                "alice",
                "--reason",
                "swap",
            ],
            "before it starts",
        ),
        (
            [
                "override",
                "SCHED",
                "--who",
                "bob",
                "--from",
                "2020-01-01 09:00",
                "--until",
                "2020-01-02 09:00",
                "--by",
                "alice",
                "--reason",
                "swap",
            ],
            "entirely in the past",
        ),
        (
            [
                "override",
                "SCHED",
                "--who",
                "bob",
                "--from",
                "2030-01-01 09:00",
                "--until",
                "2030-01-02 09:00",
                "--by",
                "alice",
                "--reason",
                " ",
            ],
            "error: --reason: a reason is required",
        ),
    ],
)
async def test_bad_input_is_one_error_line_and_exit_1(
    oncall_env: Env, args: list[str], expected: str
) -> None:
    args = [oncall_env["ONCALL_NAME"] if a == "SCHED" else a for a in args]
    code, out, err = await run(*args, env=oncall_env)
    assert code == 1, out
    assert expected in err and len(err.strip().splitlines()) == 1, err


async def test_validate_and_schema(oncall_env: Env, tmp_path: Path) -> None:
    code, out, _ = await run("validate", env=oncall_env)
    assert code == 0 and "1 schedule(s), 1 policy(ies): ok" in out
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.replace("[alice, bob, carol]", "[alice, bobb, carol]"))
    env = {**oncall_env, "WARROOM_ONCALL": str(broken)}
    done = await asyncio.to_thread(warroom, "oncall", "validate", env=env)
    assert done.returncode == 1 and "broken.yaml:6:" in done.stderr
    assert "unknown person 'bobb' (did you mean 'bob'?)" in done.stderr
    books = tmp_path / "books"
    books.mkdir()
    (books / "paged.yaml").write_text(
        "name: paged\ntitle: T\nescalation: {policy: sre-defualt, acknowledge_within: 5m}\n"
        "steps:\n  - id: fix\n    phase: mitigate\n    approval: {approvers: ['oncall:sre']}\n"
        "    action: http.request\n    with: {url: 'https://x.example/fix'}\n"
    )
    code, _, err = await run("validate", env={**oncall_env, "WARROOM_RUNBOOKS": str(books)})
    assert code == 1, err
    assert "paged.yaml: escalation policy 'sre-defualt' (did you mean 'sre-default'?) is not" in err
    assert "paged.yaml: step 'fix': approver 'oncall:sre': no schedule 'sre'" in err
    code, out, _ = await run("schema", env=oncall_env)
    assert code == 0 and json.loads(out)["$id"].endswith("oncall.json")


async def test_cancel_an_override(oncall_env: Env) -> None:
    name = oncall_env["ONCALL_NAME"]
    later = datetime.now(UTC) + timedelta(days=2)
    args = ["--from", later.strftime("%Y-%m-%d 10:00"), "--until", later.strftime("%Y-%m-%d 14:00")]
    by = ["--by", "alice", "--reason", "swap"]
    code, out, err = await run("override", name, "--who", "bob", *args, *by, env=oncall_env)
    assert code == 0 and "override o1: bob" in out, err
    code, out, err = await run("shifts", name, "--days", "4", env=oncall_env)
    assert "override o1 by alice: swap" in out  # where people find the id

    code, out, err = await run("cancel-override", name, "o1", "--by", "carol", env=oncall_env)
    assert code == 0, err
    assert out.startswith(f"cancelled o1: bob is no longer on call for {name} from ")
    code, out, err = await run("shifts", name, "--days", "4", env=oncall_env)
    assert "override o1" not in out
    code, out, err = await run(
        "cancel-override", name, "o1", "--by", "carol", "--json", env=oncall_env
    )
    assert code == 1 and err.startswith("error: no override o1 in sre-"), err
    assert len(err.strip().splitlines()) == 1

    code, out, err = await run("override", name, "--who", "carol", *args, *by, env=oncall_env)
    assert code == 0, err
    code, out, err = await run(
        "cancel-override", name, "o2", "--by", "carol", "--reason", "ill", "--json", env=oncall_env
    )
    assert code == 0, err
    gone = json.loads(out)
    assert gone["id"] == "o2" and gone["who"] == "carol" and gone["by"] == "alice"
    code, out, err = await run("cancel-override", "nope", "o2", "--by", "carol", env=oncall_env)
    assert code == 1 and "error: no schedule 'nope'" in err
