"""What a rehearsal reports beyond pass or fail: coverage of `when` branches whose condition
held although the step never ran, the scenario's refused decisions (counted and in the
timeline), and every mistake of a malformed scenario at once, each with a did-you-mean."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from warroom.errors import RunbookError
from warroom.language.loader import SHIPPED_RUNBOOKS, load_runbook
from warroom.rehearsal.coverage import coverage
from warroom.rehearsal.report import rehearsal_json, rehearsal_text
from warroom.rehearsal.runner import rehearse_file
from warroom.rehearsal.scenario import load_scenario

REJECTED = SHIPPED_RUNBOOKS / "scenarios" / "checkout-5xx" / "rollback-rejected.yaml"


async def test_a_condition_that_held_is_covered_though_the_step_never_ran(
    time_env: WorkflowEnvironment,
):
    # The error rate is over 5 %, so rollback's `when` holds; the rollback is then rejected.
    done = await rehearse_file(time_env, REJECTED)
    assert next(s for s in done.state.steps if s.id == "rollback").status == "rejected"
    covered = coverage(done.runbook, [done])
    assert covered.items["rollback when true"] == 1
    assert covered.items["rollback rejected"] == 1
    assert covered.items["step rollback ran"] == 0
    assert "rollback when true" not in covered.missed


async def test_a_refused_decision_is_counted_and_in_the_timeline(time_env: WorkflowEnvironment):
    # The scenario's intern approves, and the workflow refuses: not an approver.
    done = await rehearse_file(time_env, REJECTED)
    assert done.passed
    assert done.decisions_refused == 1
    refused = [e for e in done.entries if e.event == "approve refused"]
    assert len(refused) == 1
    entry = refused[0]
    assert (entry.step, entry.actor, entry.source) == ("rollback", "intern", "person")
    assert "intern is not an approver of step 'rollback'" in entry.detail
    assert round(entry.elapsed) == 180
    events = [e.event for e in done.entries]
    assert events.index("approval requested") < events.index("approve refused")
    assert events.index("approve refused") < events.index("rejected")
    # a rehearsal keeps no record, and says so rather than failing to archive
    assert "record archived" in events and "record not archived" not in events
    text = rehearsal_text(done)
    assert "1 decisions refused" in text
    assert "intern (person)" in text and "approve refused" in text
    assert rehearsal_json(done)["metrics"]["decisions_refused"] == 1


MISTAKES = """\
    alert:
      labels: {alertname: CheckoutHighErrorRate, severity: critical}
    actions:
      measure-impact: [{valeu: 0.09}]
      rolback: [{exit_code: 0}]
    people:
      - {at: 3m, aprove: rollback, by: intern}
      - {at: 6m, reject: rolback, by: sre-lead}
    declare_params_are_not_here: 1
    expect:
      stauts: aborted
      steps:
        rollbak: {status: rejected}
    """

#: Every mistake above, in file order, each with its did-you-mean.
EXPECTED = [
    "4:21: actions.measure-impact[0].valeu: prometheus.query answers with result_type, "
    "samples, value, truncated (or error:), not 'valeu' (did you mean 'value'?)",
    "5:3: actions.rolback: 'rolback' is no action call of runbook checkout-5xx "
    "(did you mean 'rollback'?)",
    "7:14: people[0].aprove: unknown key 'aprove' (did you mean 'approve'?)",
    "8:22: people[1].reject: no step 'rolback' in the runbook (did you mean 'rollback'?)",
    "9:1: declare_params_are_not_here: unknown key 'declare_params_are_not_here'",
    "11:3: expect.stauts: unknown key 'stauts' (did you mean 'status'?)",
    "13:5: expect.steps.rollbak: no step 'rollbak' in the runbook (did you mean 'rollback'?)",
]


def test_every_mistake_of_a_scenario_is_reported_with_a_did_you_mean(tmp_path: Path):
    path = tmp_path / "mistakes.yaml"
    path.write_text(textwrap.dedent(MISTAKES))
    with pytest.raises(RunbookError) as refused:
        load_scenario(path, load_runbook("checkout-5xx"))
    lines = str(refused.value).splitlines()
    assert len(lines) == len(EXPECTED), lines
    for line, expected in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"{path}:{expected}"), line


def test_the_cli_prints_every_mistake_on_a_line_of_its_own_before_starting(tmp_path: Path):
    path = tmp_path / "mistakes.yaml"
    path.write_text(textwrap.dedent(MISTAKES))
    command = ["rehearse", "checkout-5xx", "--scenario", str(path)]
    done = subprocess.run(
        [sys.executable, "-m", "warroom.entry.main", *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WARROOM_RUNBOOKS": ""},
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == len(EXPECTED), done.stderr
    for line, expected in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"error: {path}:{expected}"), line
    assert "time-skipping server" not in done.stderr  # refused before any server started
