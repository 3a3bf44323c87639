"""Temporal unreachable → 503 (Alertmanager retries), nothing acknowledged that was not stored;
once it is back, the retried notification lands and nothing is lost."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.api.conftest import am, catalogue
from warroom.api.app import Temporal, create_app
from warroom.api.server import running
from warroom.entry.devstack import DevServer, free_port
from warroom.incidents import views
from worker import build_worker


async def test_temporal_down_answers_503_then_the_retry_lands_once_it_is_back(
    tmp_path, task_queue, monkeypatch
):
    monkeypatch.setenv("WARROOM_TASK_QUEUE", task_queue)
    server = DevServer(tmp_path, port=free_port(), ui_port=free_port())
    server.start()
    try:
        await server.wait_ready()
        # Remembers stored alerts longer than the outage takes, whatever this machine's speed.
        app = create_app(catalogue(), Temporal(address=server.address), remember_for=3600)
        async with (
            running(app, "127.0.0.1", free_port()) as url,
            httpx.AsyncClient(timeout=60) as http,
        ):
            first = am("{}:{outage}", alerts=1)
            second = am("{}:{outage}", alerts=2)  # the same group, one more alert
            opened = await http.post(f"{url}/v1/alerts/alertmanager", json=first)
            assert opened.status_code == 200 and opened.json()["outcome"] == "opened"
            incident_id = opened.json()["incident_id"]

            server.stop()
            started = time.monotonic()
            down = await http.post(f"{url}/v1/alerts/alertmanager", json=second)
            print(f"503 after {time.monotonic() - started:.1f}s")
            assert down.status_code == 503, down.text
            assert "Temporal" in down.json()["error"] and down.headers["retry-after"] == "5"
            assert (await http.get(f"{url}/readyz")).status_code == 503
            assert (await http.get(f"{url}/healthz")).status_code == 200

            server.start()  # same data dir and port: the incident is still there
            client = await server.wait_ready()
            back = await http.post(f"{url}/v1/alerts/alertmanager", json=second)
            assert back.status_code == 200, back.text
            assert back.json() == {**opened.json(), "outcome": "joined", "signals": 1}  # one sent
            assert (await http.get(f"{url}/readyz")).status_code == 200
            metrics = (await http.get(f"{url}/metrics")).text
            assert "warroom_temporal_errors_total 1.0" in metrics

            async with build_worker(client, task_queue):
                for _ in range(100):
                    state = await views.status(client, incident_id)
                    if len(state.alerts) == 2:
                        break
                    await asyncio.sleep(0.05)
            assert sorted(a.fingerprint for a in state.alerts) == [
                "1a04de8daeb8a3ab",
                "f79725585fcc5a17",
            ]
            assert state.alerts_received == 2  # the first alert was remembered: not sent again
    finally:
        server.stop()
