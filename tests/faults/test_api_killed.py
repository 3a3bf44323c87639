"""The API process killed outright (SIGKILL) in the middle of an alert burst, while its senders
retry as Alertmanager does (a 5xx or a connection error → retry with backoff) until the API,
started again on the same port, takes the notification: every alert ends up in exactly one
incident, counted once."""

from __future__ import annotations

import httpx

from bench.alert_storm import make_storm
from tests.faults.conftest import assert_every_alert_counted_once, burst_through_a_fault
from worker import build_worker

NOTIFICATIONS = 80
KILL_AFTER = 20  # acknowledged notifications before the kill
SENDERS = 8


async def test_api_killed_mid_burst_every_alert_lands_in_exactly_one_incident(
    dev_env, api_processes, task_queue
):
    address = dev_env.client.service_client.config.target_host
    url = await api_processes.start(address)
    port = int(url.rsplit(":", 1)[1])
    # Each alert in one notification only: one acknowledged but not stored would be lost for good.
    storm = make_storm(NOTIFICATIONS, groups=4, ha=0, cumulative=False)

    async def kill_and_restart() -> None:
        api = api_processes.procs[0]
        api_processes.kill(api)  # SIGKILL while the other senders have requests in flight
        await api_processes.start(address, port)

    async with httpx.AsyncClient(timeout=30) as http, build_worker(dev_env.client, task_queue):
        sender = await burst_through_a_fault(
            http, f"{url}/v1/alerts/alertmanager", storm, SENDERS, KILL_AFTER, kill_and_restart
        )
        assert api_processes.procs[0].returncode == -9
        assert sender.failures, "the kill cut off no request: it came too late to test anything"
        await assert_every_alert_counted_once(dev_env.client, task_queue, storm)
