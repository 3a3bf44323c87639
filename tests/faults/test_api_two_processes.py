"""Two API processes and two worker processes against one Temporal server take one alert storm,
split between them, HA peers delivering the same notification to both at once: exactly one
incident per group and every distinct alert counted once (correctness comes from Temporal,
never from one process's memory)."""

from __future__ import annotations

import asyncio
import itertools

import httpx

from bench.alert_storm import make_storm, post_all
from tests.faults.conftest import assert_every_alert_counted_once

NOTIFICATIONS = 120
SENDERS = 8


async def test_two_apis_and_two_workers_open_one_incident_per_group_and_count_alerts_once(
    dev_env, api_processes, workers, task_queue
):
    address = dev_env.client.service_client.config.target_host
    urls = await asyncio.gather(api_processes.start(address), api_processes.start(address))
    workers.start(address)
    workers.start(address)
    # Each group's first notifications race to open its incident through both APIs.
    storm = make_storm(NOTIFICATIONS, groups=5, alerts_per_group=4, seed=1)
    ha_pairs = sum(1 for a, b in itertools.pairwise(storm.posts) if a is b)
    assert ha_pairs > 10
    turn = itertools.count()

    async with httpx.AsyncClient(timeout=30) as http:

        async def post(body: dict) -> int:
            # Alternating: the two copies of an HA pair (consecutive posts) go one to each API.
            url = urls[next(turn) % 2]
            return (await http.post(f"{url}/v1/alerts/alertmanager", json=body)).status_code

        _, statuses = await post_all(storm, SENDERS, post)
    assert statuses == {200: NOTIFICATIONS}  # no 5xx while Temporal is up
    await assert_every_alert_counted_once(dev_env.client, task_queue, storm)
