"""Rehearsal itself: a wrong expectation fails with a readable diff, malformed scenarios are
refused with file:line, an incident left open is aborted and reported, and the CLI's exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from warroom.errors import RunbookError
from warroom.language.loader import SHIPPED_RUNBOOKS, load_runbook
from warroom.rehearsal.report import assert_passed, rehearsal_text
from warroom.rehearsal.runner import rehearse_file
from warroom.rehearsal.scenario import load_scenario

SCENARIOS = SHIPPED_RUNBOOKS / "scenarios"
HAPPY = SCENARIOS / "demo-checkout" / "happy-path.yaml"


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return path


async def test_a_wrong_expectation_fails_with_a_readable_diff(
    time_env: WorkflowEnvironment, tmp_path: Path
):
    wrong = HAPPY.read_text().replace("attempts: 3", "attempts: 2")
    wrong = wrong.replace("status: resolved", "status: aborted")
    path = scenario_file(tmp_path, wrong)
    done = await rehearse_file(time_env, path, "demo-checkout")
    assert not done.passed
    with pytest.raises(AssertionError) as failed:
        assert_passed(done)
    report = str(failed.value)
    assert "  status:\n    - expected aborted\n    + got      resolved (all steps done)" in report
    assert "  step error-rate-normal attempts:\n    - expected 2\n    + got      3" in report
    assert report.splitlines()[1].startswith("FAIL ")


async def test_an_incident_left_open_is_aborted_and_reported(
    time_env: WorkflowEnvironment, tmp_path: Path
):
    path = scenario_file(
        tmp_path,
        """\
        declare: {summary: nobody approves, by: dana}
        actions: {measure-impact: [{json: {version: v2, previous_version: v1}}]}
        until: 20m
        expect: {status: resolved}
        """,
    )
    done = await rehearse_file(time_env, path, "demo-checkout")
    assert done.state.status == "aborted"
    assert [str(m) for m in done.mismatches] == [
        "status: expected resolved, got still awaiting approval on rollback at 20m "
        "(the rehearsal aborted it)"
    ]
    assert "closed: aborted" in rehearsal_text(done)


async def test_refused_decisions_must_be_expected(time_env: WorkflowEnvironment, tmp_path: Path):
    path = scenario_file(
        tmp_path,
        """\
        declare: {summary: wrong approver, by: dana}
        actions: {measure-impact: [{json: {version: v2, previous_version: v1}}]}
        people:
          - {at: 1m, approve: rollback, by: mallory}
          - {at: 2m, abort: true, by: dana}
        expect: {status: aborted, not_run: [rollback]}
        """,
    )
    done = await rehearse_file(time_env, path, "demo-checkout")
    assert [str(m) for m in done.mismatches] == [
        "approve rollback by mallory at 1m: expected applied, got refused: mallory is not an "
        "approver of step 'rollback' (approvers: dana-oncall, sre-lead)"
    ]


MALFORMED = [
    ("declare: {summary: x}\nbogus: 1\n", "scenario.yaml:2:1: bogus: unknown key 'bogus'"),
    (
        "declare: {summary: x}\nactions:\n  rolback: [{status: 200}]\n",
        "scenario.yaml:3:3: actions.rolback: 'rolback' is no action call of runbook demo-checkout (did you mean 'rollback'?)",
    ),
    (
        "declare: {summary: x}\nactions:\n  rollback: [{exit_code: 1}]\n",
        "scenario.yaml:3:15: actions.rollback[0].exit_code: http.request answers with status, json, text (or error:), not 'exit_code'",
    ),
    (
        "declare: {summary: x}\npeople:\n  - {at: 10, approve: rollback, by: a}\n",
        "scenario.yaml:3:10: people[0].at: 10 has no unit",
    ),
    (
        "declare: {summary: x}\npeople:\n  - {at: 1m, approve: rollback, reject: rollback, by: a}\n",
        "scenario.yaml:3:5: people[0]: say exactly one decision per entry (got approve, reject)",
    ),
    (
        "declare: {summary: x}\nexpect:\n  steps:\n    rolback: {status: succeeded}\n",
        "scenario.yaml:4:5: expect.steps.rolback: no step 'rolback' in the runbook (did you mean 'rollback'?)",
    ),
    ("expect: {status: resolved}\n", "scenario.yaml:1:1: runbook: say how the incident opens"),
    (
        "declare: {summary: x}\nexpect: {status: fixed}\n",
        "scenario.yaml:2:18: expect.status: Input should be 'resolved' or 'aborted'",
    ),
    (
        "declare: {summary: x}\ndeclare: {summary: y}\n",
        "scenario.yaml:2:1: declare: key 'declare' appears twice",
    ),
]


@pytest.mark.parametrize(("text", "error"), MALFORMED, ids=[e[1].split(": ")[1] for e in MALFORMED])
def test_a_malformed_scenario_is_refused_with_file_and_line(tmp_path: Path, text: str, error: str):
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(RunbookError) as refused:
        load_scenario(path, load_runbook("demo-checkout"))
    first = str(refused.value).splitlines()[0].replace(str(tmp_path) + "/", "")
    assert first.startswith(error), first


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warroom.entry.main", "rehearse", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WARROOM_RUNBOOKS": ""},
    )


def test_cli_exit_codes(tmp_path: Path):
    ok = run_cli("demo-checkout", "--json")
    assert ok.returncode == 0, ok.stderr
    answer = json.loads(ok.stdout)
    assert answer["passed"] is True and len(answer["rehearsals"]) == 3
    assert answer["coverage"][0]["runbook"] == "demo-checkout"
    wrong = scenario_file(tmp_path, HAPPY.read_text().replace("updates: 1", "updates: 4"))
    failed = run_cli("demo-checkout", "--scenario", str(wrong))
    assert failed.returncode == 1
    assert "status updates posted:\n    - expected 4\n    + got      1" in failed.stdout
    assert "0 passed, 1 failed" in failed.stdout
    broken = scenario_file(tmp_path, "declare: {summary: x}\nbogus: 1\n")
    refused = run_cli("demo-checkout", "--scenario", str(broken))
    assert refused.returncode == 1 and f"{broken}:2:1: bogus: unknown key" in refused.stderr
    usage = run_cli("demo-checkout", "--all")
    assert usage.returncode == 1 and "--all rehearses everything" in usage.stderr


def test_runbook_validation_ignores_the_scenarios_folder():
    validate = subprocess.run(
        [sys.executable, "-m", "warroom.entry.main", "runbooks", "validate", str(SHIPPED_RUNBOOKS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "scenarios" not in validate.stdout
