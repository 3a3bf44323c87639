"""Every shipped scenario rehearsed on the shared time-skipping server: one test per file."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from warroom.language.loader import SHIPPED_RUNBOOKS, runbook_files
from warroom.rehearsal.report import assert_passed
from warroom.rehearsal.runner import rehearse_file
from warroom.rehearsal.scenario import scenarios_of

SCENARIOS = [s for rb in runbook_files(SHIPPED_RUNBOOKS) for s in scenarios_of(rb, rb.stem)]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_shipped_scenario(time_env: WorkflowEnvironment, path: Path):
    assert_passed(await rehearse_file(time_env, path))


def test_every_shipped_runbook_has_a_happy_and_a_failure_path():
    for runbook in runbook_files(SHIPPED_RUNBOOKS):
        names = {p.stem for p in scenarios_of(runbook, runbook.stem)}
        assert "happy-path" in names, runbook
        assert names - {"happy-path"}, f"{runbook} has no failure scenario"
