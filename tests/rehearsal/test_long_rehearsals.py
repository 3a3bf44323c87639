"""Long rehearsals: virtual time passes in bounded steps (one call to the test server for a
whole multi-day gap outlasted the connection and failed with "cancelled … try again"), and a
scenario that would play more status updates than a rehearsal can is refused before anything
starts, with the limit and what to change."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from temporalio.testing import WorkflowEnvironment

from warroom.errors import RunbookError
from warroom.language.loader import parse_runbook
from warroom.rehearsal.report import assert_passed
from warroom.rehearsal.runner import SLEEP_CHUNK, rehearse_file
from warroom.rehearsal.scenario import MAX_UPDATES, load_scenario, updates_played

RUNBOOK = """\
name: long
title: A long incident
severity: SEV1
cadence: {SEV1: 1m, SEV3: 4h}
updates:
  - {action: webhook.post, with: {url: "https://hooks.example/status"}}
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [alice]}
    action: http.request
    with: {url: "https://fix.example/"}
"""

#: What the issue ran: a valid scenario, 30 days at a 1-minute cadence.
MONTH = """\
declare: {summary: a long one, by: bob}
people:
  - {at: 30d, approve: fix, by: alice}
expect: {status: resolved}
"""


def files(tmp_path: Path, scenario: str) -> tuple[Path, Path]:
    runbook = tmp_path / "long.yaml"
    runbook.write_text(RUNBOOK)
    path = tmp_path / "scenarios" / "long" / "scenario.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(scenario))
    return runbook, path


def test_thirty_days_at_a_one_minute_cadence_is_refused_up_front(tmp_path: Path):
    _, path = files(tmp_path, MONTH)
    with pytest.raises(RunbookError) as refused:
        load_scenario(path, parse_runbook(RUNBOOK))
    (problem,) = refused.value.problems
    assert (problem.line, problem.col) == (3, 10)  # the last event's `at`
    assert problem.message == (
        "people[0].at: the incident would post about 43,260 status updates in the 30d1h "
        f"this scenario plays (SEV1 every 1m); a rehearsal plays at most {MAX_UPDATES:,}: "
        "end it sooner (until:, its last event, a resolve), or rehearse a runbook with a "
        "longer cadence"
    )


def test_the_cli_refuses_it_at_once_with_the_limit(tmp_path: Path):
    runbook, path = files(tmp_path, MONTH)
    command = ["rehearse", str(runbook), "--scenario", str(path)]
    done = subprocess.run(
        [sys.executable, "-m", "warroom.entry.main", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WARROOM_RUNBOOKS": ""},
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {path}:3:10: people[0].at: the incident would post")
    assert f"at most {MAX_UPDATES:,}" in done.stderr
    assert "time-skipping" not in done.stderr  # nothing started


@pytest.mark.parametrize(
    ("scenario", "updates", "plays"),
    [
        (MONTH, 43_260, timedelta(days=30, hours=1)),
        # A resolve ends it: 2 hours at 1m.
        (MONTH.replace("people:", "people:\n  - {at: 2h, resolve: true, by: alice}"), 120,
         timedelta(hours=2)),
        # SEV3 (every 4h) after the first hour: 60, then 30 days / 4h.
        (MONTH.replace("people:", "people:\n  - {at: 1h, severity: SEV3, by: alice}"), 60 + 180,
         timedelta(days=30, hours=1)),
        # until: is the horizon.
        (MONTH.replace("expect:", "until: 3d\nexpect:"), 4_320, timedelta(days=3)),
    ],
)  # fmt: skip
def test_the_updates_a_scenario_plays_follow_its_severity_and_its_end(
    tmp_path: Path, scenario: str, updates: int, plays: timedelta
):
    rb = parse_runbook(RUNBOOK)
    _, path = files(tmp_path, scenario)
    try:
        loaded = load_scenario(path, rb)
    except RunbookError:
        assert updates > MAX_UPDATES
        return
    assert updates <= MAX_UPDATES
    counted, end, _ = updates_played(loaded, rb)
    assert (counted, end) == (updates, plays)


class SleepLog:
    """The time-skipping environment, noting each virtual sleep asked of the server."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self._env, self.sleeps = env, cast(list[timedelta], [])

    async def sleep(self, duration: timedelta) -> None:
        self.sleeps.append(duration)
        await self._env.sleep(duration)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


async def test_virtual_time_passes_in_bounded_steps(time_env: WorkflowEnvironment, tmp_path: Path):
    runbook, path = files(
        tmp_path,
        """\
        declare: {summary: a slow one, by: bob, severity: SEV3}
        people:
          - {at: 9h30m, approve: fix, by: alice}
        expect: {status: resolved, updates: 3}
        """,
    )
    env = SleepLog(time_env)
    done = await rehearse_file(cast(WorkflowEnvironment, env), path, runbook)
    assert_passed(done)
    assert env.sleeps and max(env.sleeps) <= SLEEP_CHUNK
    assert sum(env.sleeps, timedelta()) >= timedelta(hours=9, minutes=29)
