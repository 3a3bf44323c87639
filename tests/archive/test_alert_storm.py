"""A big incident is archived whole: 600 distinct alerts over a chain of runs (the state keeps
the labels of only 300 of them), and the record carries every fingerprint that joined, every
run's history, and reads back the same once Temporal has forgotten the incident."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from tests.archive.test_fallback import POLLS, archived, declare, delete, run
from tests.archive.test_fallback import setting as setting  # the fixture, shared
from tests.conftest import dev_server
from warroom.archive.store import sqlite_url
from warroom.contract.models import ALERTS_KEPT_FIRST, ALERTS_KEPT_LATEST, Alert
from warroom.incidents import views
from worker import build_worker
from workflows.incident import IncidentWorkflow

STORM = 600
#: Signals sent at once (the API's deliveries overlap the same way).
AT_ONCE = 25
#: Most repeated notifications sent before the run must have continued as new (each signal
#: adds at least one event; a run continues past CONTINUE_AFTER_EVENTS).
REPEATS_MOST = 4_000
STARTS = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def storm_alert(n: int) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=f"storm-{n:03d}",
        labels={"alertname": "CheckoutHighErrorRate", "instance": f"web-{n:03d}"},
        starts_at=STARTS,
    )


@pytest.fixture(scope="module")
async def dev_env(suite_keys):
    """A dev server of its own: `temporal workflow delete` leaves the storm chain's first run
    in Temporal, which the other archive tests' reports (`--since 1d`) would count."""
    async for env in dev_server(suite_keys):
        yield env


async def send(handle, alerts: list[Alert]) -> None:
    """Each alert in its own `alerts` signal, AT_ONCE at a time."""
    for i in range(0, len(alerts), AT_ONCE):
        batch = alerts[i : i + AT_ONCE]
        await asyncio.gather(*(handle.signal(IncidentWorkflow.alerts, [a]) for a in batch))


@pytest.mark.slow
async def test_an_alert_storm_over_a_chain_of_runs_is_archived_whole(
    setting, dev_env, task_queue, tmp_path, monkeypatch
):
    env, runbook = setting
    url = sqlite_url(tmp_path)
    env = {**env, "WARROOM_ARCHIVE_URL": url}
    monkeypatch.setenv("WARROOM_ARCHIVE_URL", url)  # the worker's
    client = dev_env.client
    async with build_worker(client, task_queue):
        incident_id = await declare(env, runbook)
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
        for _ in range(POLLS):  # at the gate: the run waits there, and continues as new there
            if (await views.status(client, incident_id)).pending_approvals:
                break
            await asyncio.sleep(0.1)
        first_run = (await handle.describe()).run_id

        # Half the storm in the first run; the same notification again until the history is
        # long enough to continue as new; the other half in the next run.
        await send(handle, [storm_alert(n) for n in range(STORM // 2)])
        for _ in range(0, REPEATS_MOST, AT_ONCE * 4):
            if (await handle.describe()).run_id != first_run:
                break
            await send(handle, [storm_alert(0)] * AT_ONCE * 4)
        assert (await handle.describe()).run_id != first_run, "never continued as new"
        await send(handle, [storm_alert(n) for n in range(STORM // 2, STORM)])
        for _ in range(POLLS):
            state = await handle.query(IncidentWorkflow.status)
            if state.alerts_total == STORM:
                break
            await asyncio.sleep(0.1)
        assert state.alerts_total == STORM
        last_run = (await handle.describe()).run_id

        await run("approve", incident_id, "fix", "--by", "carol", env=env)
        await handle.result()
        record = await archived(url, incident_id)

    # The state keeps the labels of the first and the latest alerts only ...
    assert len(record.state["alerts"]) == ALERTS_KEPT_FIRST + ALERTS_KEPT_LATEST < STORM
    # ... the record, every fingerprint that joined, and every run of the chain.
    assert record.fingerprints == [f"storm-{n:03d}" for n in range(STORM)]
    assert record.chain_id == record.runs[0][0] == first_run
    assert record.runs[-1][0] == record.last_run_id == last_run
    assert len(record.runs) >= 2
    received = [e for e in record.timeline if e["event"] == "alert received"]
    assert len(received) == STORM
    assert any(e["event"] == "continued as new" for e in record.timeline)

    readers = (("show", "--json"), ("timeline", "--json"))
    before = {args: await run(*args, incident_id, env=env) for args in readers}
    await delete(client, incident_id)
    after = {args: await run(*args, incident_id, env=env) for args in readers}
    assert after == before
    told = json.loads(after[("timeline", "--json")])
    assert sum(e["event"] == "alert received" for e in told) == STORM
    assert {e["run"] for e in told} == set(range(1, len(record.runs) + 1))
