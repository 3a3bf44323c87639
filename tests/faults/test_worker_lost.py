"""Two worker processes on one task queue, one of them killed outright (SIGKILL) while it runs
steps of several incidents: the other one finishes every open incident, and each cut-off step
is sent again at most once, with the same Idempotency-Key."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.entry.test_worker_crash import key_of
from tests.faults.conftest import fault_runbook
from tests.workflows.test_incident import finish, start, step

INCIDENTS = 6

# A short start-to-close timeout: the server retries a step only once its attempt timed out.
DRAIN = """
name: worker-lost
title: Worker lost mid-step
steps:
  - id: drain
    phase: mitigate
    action: http.request
    with: {method: POST, url: "{{ secret.HELD }}/drain"}
    timeout: 3s
    retry: {max_attempts: 5, initial_interval: 1s, backoff: 1.0}
"""


async def test_one_of_two_workers_killed_the_other_finishes_every_incident(
    dev_env, workers, held, task_queue
):
    address = dev_env.client.service_client.config.target_host
    procs = [workers.start(address), workers.start(address)]
    rb = fault_runbook(DRAIN)
    handles = [await start(dev_env.client, task_queue, rb) for _ in range(INCIDENTS)]
    assert await asyncio.to_thread(held.wait_for_requests, INCIDENTS), held.requests

    # Which worker runs which step: the server knows the identity (pid@host) of each.
    running = Counter[str]()
    for handle in handles:
        pending = (await handle.describe()).raw_description.pending_activities
        running.update(p.last_worker_identity.split("@")[0] for p in pending)
    busiest = max(procs, key=lambda p: running[str(p.pid)])
    cut_off = running[str(busiest.pid)]
    assert cut_off >= 1, running
    workers.kill(busiest)
    held.release()

    results = await asyncio.gather(*(finish(h) for h in handles))
    assert [r.status for r in results] == ["resolved"] * INCIDENTS
    assert all(step(r, "drain").status == "succeeded" for r in results)
    keys = Counter(key_of(r) for r in held.requests)
    assert set(keys) == {f"{h.id}:drain" for h in handles}
    assert max(keys.values()) <= 2, keys  # the cut-off attempt and its retry, never more
    assert list(keys.values()).count(2) >= cut_off, keys  # (a slow machine may add some)
