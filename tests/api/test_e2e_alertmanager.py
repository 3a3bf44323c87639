"""End to end with the real thing: Prometheus fires a rule, Alertmanager (with a bearer token)
notifies the API, exactly one incident opens on the matching runbook and runs its triage; the
rule stops firing, `resolved` reaches the incident, which resolves (on_alert_resolved: resolve).
"""

from __future__ import annotations

import asyncio
import uuid

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.api.conftest import PAGED, TOKENS, catalogue
from tests.conftest import system_binary
from warroom.access.tokens import Tokens
from warroom.api.app import Temporal, create_app
from warroom.api.server import running
from warroom.entry.devstack import Monitoring, free_port
from warroom.incidents import views
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook

DEADLINE = 90.0


async def eventually(check, what, mon):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while loop.time() < deadline:
        mon.check()
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"not within {DEADLINE:.0f}s: {what}")


async def test_prometheus_and_alertmanager_open_feed_and_resolve_one_incident(
    dev_env, worker_queue, tmp_path
):
    system_binary("prometheus")
    system_binary("prometheus-alertmanager")
    name = f"E2E{uuid.uuid4().hex[:8]}"
    runbook = parse_runbook(
        PAGED.replace("name: paged", f"name: e2e-{name.lower()}").replace("TestAlert", name)
    )
    shipped = catalogue()
    app = create_app(
        Catalogue([Entry(runbook), *shipped.entries.values()], shipped.fallback),
        Temporal(dev_env.client),
        tokens=Tokens(TOKENS),
    )
    registry = CollectorRegistry()
    errors = Gauge("e2e_errors", "Errors of the system under test.", registry=registry)
    errors.set(1)
    metrics_server, metrics_thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        async with running(app, "127.0.0.1", free_port()) as url:
            with Monitoring(
                tmp_path,
                webhook=f"{url}/v1/alerts/alertmanager",
                token="alertmanager-token-0123456789",
            ) as mon:
                mon.start(
                    scrape=f"127.0.0.1:{metrics_server.server_port}",
                    rule={
                        "alert": name,
                        "expr": "e2e_errors > 0",
                        "labels": {"service": "orders", "severity": "critical"},
                        # Go template text that prints `{{ 7*7 }}`: Jinja text in the alert.
                        "annotations": {"summary": '{{ $value }} errors, {{ "{{ 7*7 }}" }}'},
                    },
                )
                query = f"IncidentRunbook = '{runbook.name}'"

                async def opened():
                    return [wf async for wf in dev_env.client.list_workflows(query)]

                (found,) = await eventually(opened, "an incident opened", mon)
                incident_id = found.id

                async def triaged():
                    state = await views.status(dev_env.client, incident_id)
                    return state if state.status == "awaiting_approval" else None

                state = await eventually(triaged, "triage ran", mon)
                assert state.steps[0].status == "succeeded"  # the triage step
                assert state.declared_by == "alertmanager" and state.severity == "SEV1"
                assert state.alerts[0].labels["alertname"] == name
                assert state.alerts[0].annotations["summary"] == "1 errors, {{ 7*7 }}"

                errors.set(0)  # the rule stops firing

                async def resolved():
                    state = await views.status(dev_env.client, incident_id)
                    return state if state.is_closed else None

                state = await eventually(resolved, "resolved reached the incident", mon)
                assert state.status == "resolved" and not state.firing_alerts
                assert [wf.id for wf in await opened()] == [incident_id]  # exactly one
    finally:
        metrics_server.shutdown()
        metrics_server.server_close()
        metrics_thread.join()
