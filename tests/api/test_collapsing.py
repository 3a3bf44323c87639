"""Duplicates collapse before Temporal: a notification is one `alerts` signal however many
alerts it carries, a repeat within `remember_for` makes no Temporal call at all, and one after
it reaches the incident, which counts it as a duplicate."""

from __future__ import annotations

import asyncio

import httpx

from bench.alert_storm import signals_in
from tests.api.conftest import Api, am, collapsed, serve_api
from tests.api.test_alerts import group, wait_state
from warroom.contract.models import Alert
from warroom.intake.delivery import RecentlyStored, batches


async def test_a_notification_is_one_signal_and_a_repeat_within_the_ttl_calls_no_temporal(api):
    key = group()
    first = await api.post("/v1/alerts/alertmanager", am(key, alerts=2))
    assert first.json()["outcome"] == "opened", first.text
    incident_id = first.json()["incident_id"]
    state = await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")
    assert state.alerts_received == 2 and len(state.alerts) == 2
    assert await signals_in(api.client, incident_id) == 1  # both alerts in one signal-with-start

    again = await api.post("/v1/alerts/alertmanager", am(key, alerts=2))
    assert again.json() == {**first.json(), "outcome": "joined", "signals": 0}
    assert await signals_in(api.client, incident_id) == 1  # answered from memory: no Temporal call
    assert collapsed((await api.get("/metrics")).text) == 2

    # A new alert of the group: only it is sent (one signal), the other one is remembered.
    grown = am(key, alerts=2)
    grown["alerts"][1]["fingerprint"] = "new-one"
    answer = (await api.post("/v1/alerts/alertmanager", grown)).json()
    assert (answer["outcome"], answer["signals"]) == ("joined", 1)
    assert await signals_in(api.client, incident_id) == 2
    state = await wait_state(api, incident_id, lambda s: s.alerts_received == 3)
    assert state.alerts_duplicate == 0 and len(state.alerts) == 3
    metrics = (await api.get("/metrics")).text
    assert collapsed(metrics) == 3
    assert (
        'warroom_http_request_duration_seconds_count{method="POST",'
        'route="/v1/alerts/alertmanager",status="200"} 3.0' in metrics
    )
    assert 'route="unmatched",status="404"' not in metrics
    assert (await api.get("/nowhere")).status_code == 404
    assert 'route="unmatched",status="404"} 1.0' in (await api.get("/metrics")).text


async def test_a_repeat_after_the_ttl_reaches_the_incident_which_counts_it_once(
    dev_env, worker_queue
):
    async with (
        await serve_api(dev_env.client, remember_for=0.2) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        api = Api(url, http, dev_env.client)
        key = group()
        first = await api.post("/v1/alerts/alertmanager", am(key, alerts=2))
        incident_id = first.json()["incident_id"]
        await asyncio.sleep(0.5)  # past remember_for: forgotten
        again = await api.post("/v1/alerts/alertmanager", am(key, alerts=2))
        assert again.json()["outcome"] == "joined", again.text
        state = await wait_state(api, incident_id, lambda s: s.alerts_received == 4)
        assert state.alerts_duplicate == 2 and len(state.alerts) == 2
        assert await signals_in(api.client, incident_id) == 2
        assert collapsed((await api.get("/metrics")).text) == 0


def test_the_memory_forgets_after_its_ttl_a_hit_does_not_extend_it_and_it_is_bounded():
    now = [0.0]
    recent = RecentlyStored(ttl=30, size=3, clock=lambda: now[0])
    recent.add(("inc", ("a", "firing", "")))
    now[0] = 29.0
    assert ("inc", ("a", "firing", "")) in recent  # a hit...
    now[0] = 30.0
    assert ("inc", ("a", "firing", "")) not in recent  # ...does not extend it
    for name in "bcde":
        recent.add(("inc", (name, "firing", "")))
    assert [k[1][0] for k in recent._until] == ["c", "d", "e"]  # the oldest forgotten first
    assert ("inc", ("b", "firing", "")) not in recent
    now[0] = 61.0
    recent.add(("inc", ("f", "firing", "")))
    assert [k[1][0] for k in recent._until] == ["f"]  # the expired are dropped as it goes
    off = RecentlyStored(ttl=0, size=3)
    off.add(("inc", ("a", "firing", "")))
    assert ("inc", ("a", "firing", "")) not in off


def test_a_notification_too_large_for_one_signal_is_split_in_order():
    alerts = [Alert(fingerprint=f"fp{n}", annotations={"d": "x" * 400}) for n in range(5)]
    one = len(alerts[0].model_dump_json())
    assert batches(alerts) == [alerts]  # the usual case: one signal
    split = batches(alerts, most_bytes=2 * one)
    assert split == [alerts[0:2], alerts[2:4], alerts[4:5]]
    assert batches(alerts[:2], most_bytes=one // 2) == [alerts[0:1], alerts[1:2]]
