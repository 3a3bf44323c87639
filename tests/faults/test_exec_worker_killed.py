"""A worker process killed outright (SIGKILL) while an `exec` step runs: the program and every
process it started in its group die with the worker, so the step's retry on another worker
never runs beside a copy still at work; the program saw the step's idempotency key."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from tests.activities.test_exec import PY, alive, all_gone, started, tree
from tests.faults.conftest import fault_runbook
from tests.workflows.test_incident import start

RUNBOOK = """
name: exec-worker-killed
title: Worker killed while a program runs
steps:
  - id: rollout
    phase: mitigate
    action: exec
    with: {command: COMMAND, timeout: 10m}
"""


async def test_an_exec_program_and_its_group_die_with_a_killed_worker(
    dev_env, workers, task_queue, tmp_path: Path
):
    pids_file, key_file = tmp_path / "pids", tmp_path / "key"
    # The program records the key it was given, then starts a child and a grandchild that
    # ignores SIGTERM; all three record their pids and sleep.
    code = (
        f"import os; open({str(key_file)!r}, 'w').write(os.environ.get('WARROOM_IDEMPOTENCY_KEY', '')); "
        + tree(pids_file)
    )
    rb = fault_runbook(RUNBOOK.replace("COMMAND", json.dumps([PY, "-c", code])))  # JSON is YAML
    workers.env |= {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "WARROOM_EXEC_ALLOW": PY,
    }
    worker = workers.start(dev_env.client.service_client.config.target_host)
    handle = await start(dev_env.client, task_queue, rb)
    pids: list[int] = []
    try:
        pids = await started(pids_file)
        assert all(alive(p) for p in pids)
        workers.kill(worker)  # SIGKILL: the worker cannot clean up after itself
        assert await all_gone(pids), [p for p in pids if alive(p)]
        assert key_file.read_text() == f"{handle.id}:rollout"
    finally:
        await handle.terminate()
        for pid in pids:  # whatever outlived a regression must not outlive the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
