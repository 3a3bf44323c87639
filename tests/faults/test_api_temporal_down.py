"""Temporal unreachable when the API starts and again (killed outright) in the middle of an
alert burst: /readyz answers 503, alerts get 503 and nothing is stored for them; once Temporal
is up, the retried notifications land, every acknowledged one was stored (the killed server
restarts on its database file), and every alert is counted once. (The API losing an
already-connected Temporal between two notifications is tests/api/test_temporal_down.py.)"""

from __future__ import annotations

import asyncio

import httpx

from bench.alert_storm import make_storm
from tests.faults.conftest import (
    BOUND_SECONDS,
    assert_every_alert_counted_once,
    burst_through_a_fault,
)
from worker import build_worker

NOTIFICATIONS = 40
KILL_AFTER = 10
SENDERS = 6


async def test_api_started_without_temporal_and_temporal_killed_mid_burst_loses_nothing(
    own_server, api_processes, task_queue
):
    url = await api_processes.start(own_server.address)  # nobody listens there yet
    storm = make_storm(NOTIFICATIONS, groups=3, seed=2, ha=0, cumulative=False)
    alerts = f"{url}/v1/alerts/alertmanager"
    async with httpx.AsyncClient(timeout=60) as http:
        assert (await http.get(f"{url}/readyz")).status_code == 503
        for body in storm.posts[:3]:
            down = await http.post(alerts, json=body)
            assert down.status_code == 503, down.text
            assert "Temporal" in down.json()["error"] and down.headers["retry-after"] == "5"

        client = await own_server.start()
        assert [wf async for wf in client.list_workflows(f"TaskQueue = '{task_queue}'")] == []
        for _ in range(BOUND_SECONDS * 10):  # the API connects by itself on the next request
            if (await http.get(f"{url}/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await http.get(f"{url}/readyz")).status_code == 200

        async def kill_and_restart() -> None:
            own_server.kill()  # SIGKILL, same database file on restart
            assert (await http.get(f"{url}/readyz")).status_code == 503
            await own_server.start()

        # The first three again, and the rest.
        sender = await burst_through_a_fault(
            http, alerts, storm, SENDERS, KILL_AFTER, kill_and_restart
        )
        # Calls in flight at the kill wait for Temporal up to 10 s (then 503): never a 500.
        assert set(sender.failures) <= {"503"}, sender.failures

    client = await own_server.server.wait_ready()
    async with build_worker(client, task_queue):
        await assert_every_alert_counted_once(client, task_queue, storm)
