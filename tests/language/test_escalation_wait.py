"""An escalation level's `wait` is the wait before that level (after the level before it), as
`- {wait: 10m, notify: [...]}` on level 2 reads; level 1 goes out as soon as escalation starts,
so a `wait` there has no effect and the loader says so. Incidents started before keep the old
meaning (patch `escalation-wait-before-level`; both kinds of saved history replay)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import abort_and_finish, runbook, start, wait_for, worker
from tests.workflows.test_replay import HISTORIES, patches
from warroom.errors import RunbookProblem
from warroom.language.loader import parse_runbook
from workflows.cadence import PATCH_ESCALATION_WAIT

LEVELS = """\
name: esc
title: Escalating
escalation:
  acknowledge_within: 5m
  levels:
    - {notify: [{action: webhook.post, with: {url: "FAKE/level1"}}]}
    - {wait: 40m, notify: [{action: webhook.post, with: {url: "FAKE/level2"}}]}
    - {notify: [{action: webhook.post, with: {url: "FAKE/level3"}}]}
steps:
  - id: fix
    phase: mitigate
    approval: {approvers: [alice]}
    action: note
    with: {text: fixed}
"""

#: Level 1's `wait` does nothing now: the loader warns, pointing at it.
WAIT_ON_LEVEL_ONE = LEVELS.replace("- {notify: [{action: webhook.post, with: {url: \"FAKE/level1", (
    "- {wait: 10m, notify: [{action: webhook.post, with: {url: \"FAKE/level1"
))  # fmt: skip


def loadable(text: str) -> str:
    return text.replace("FAKE", "https://hooks.example")


async def test_each_level_waits_its_own_wait_after_the_level_before(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    for level in ("/level1", "/level2", "/level3"):
        fake_http.routes[("POST", level)] = Reply(200, {})
    client = time_env.client
    async with worker(client, task_queue):
        handle = await start(client, task_queue, runbook(LEVELS, fake_http))
        # Level 1 as soon as nobody acknowledged within 5m.
        await time_env.sleep(timedelta(minutes=6))
        await wait_for(handle, lambda s: len(s.escalations) == 1, "level 1")
        # Level 2 waits its own 40m after level 1 (not the default 15m of level 1).
        await time_env.sleep(timedelta(minutes=38))  # 44m since the start
        assert len((await wait_for(handle, lambda s: True, "a state")).escalations) == 1
        await time_env.sleep(timedelta(minutes=2))  # 46m
        state = await wait_for(handle, lambda s: len(s.escalations) == 2, "level 2")
        # Level 3 says no wait: the default 15m after level 2.
        await time_env.sleep(timedelta(minutes=13))  # 59m
        assert len((await wait_for(handle, lambda s: True, "a state")).escalations) == 2
        await time_env.sleep(timedelta(minutes=2))  # 61m
        state = await wait_for(handle, lambda s: len(s.escalations) == 3, "level 3")
        # (each gap also holds the time the level's notification took)
        at = [e.at for e in state.escalations]
        gaps = [b - a for a, b in itertools.pairwise(at)]
        assert [round(g.total_seconds() / 60) for g in gaps] == [40, 15]
        calls = [len(fake_http.calls("POST", p)) for p in ("/level1", "/level2", "/level3")]
        assert calls == [1, 1, 1]
        await abort_and_finish(handle, "dana")


def test_a_wait_on_level_one_is_a_load_warning_at_its_line():
    warnings: list[RunbookProblem] = []
    parse_runbook(loadable(WAIT_ON_LEVEL_ONE), "esc.yaml", warnings=warnings)
    assert [(w.path, w.line, w.col) for w in warnings] == [("esc.yaml", 6, 8)]
    assert warnings[0].message.startswith(
        "escalation.levels[0].wait: this wait has no effect: level 1 is notified as soon as "
        "escalation starts"
    )
    quiet: list[RunbookProblem] = []
    parse_runbook(loadable(LEVELS), "esc.yaml", warnings=quiet)  # a wait on level 2 does something
    assert quiet == []


def test_without_a_list_the_warning_is_logged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="warroom.language.loader"):
        parse_runbook(loadable(WAIT_ON_LEVEL_ONE), "esc.yaml")
    assert [r.getMessage()[:38] for r in caplog.records] == [
        "warning: esc.yaml:6:8: escalation.leve"
    ]


def test_validate_shows_the_warning_and_still_passes(tmp_path: Path):
    path = tmp_path / "esc.yaml"
    path.write_text(loadable(WAIT_ON_LEVEL_ONE))

    def validate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "warroom.entry.main", "validate", *args, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "WARROOM_RUNBOOKS": ""},
        )

    text = validate()
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"ok: {path}")
    assert text.stderr.startswith(f"warning: {path}:6:8: escalation.levels[0].wait: this wait")
    rows = json.loads(validate("--json").stdout)
    assert [(r["line"], r["col"], r["level"]) for r in rows] == [(6, 8, "warning")]


def test_saved_histories_of_both_meanings_replay():
    by_name = {p.stem: p for p in HISTORIES}
    # Recorded before the change: level 2 came level 1's `wait` (2s) after level 1.
    before = by_name["escalation-before-the-wait-patch"]
    assert PATCH_ESCALATION_WAIT not in patches(before)
    assert '"startToFireTimeout": "2s"' in before.read_text()
    # Recorded with it: level 2 came its own `wait` (3s) after level 1.
    after = by_name["escalation-wait-before-level"]
    assert PATCH_ESCALATION_WAIT in patches(after)
    assert '"startToFireTimeout": "3s"' in after.read_text()
    # (tests/workflows/test_replay.py replays every saved history.)
