"""Fixtures of the API tests: the real API on a loopback port, against the dev server, with a
worker on a fresh task queue and a small catalogue of runbooks that alerts open."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.api.server import running
from warroom.entry.devstack import free_port
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook
from worker import build_worker

#: Payloads as senders send them; alertmanager-firing/resolved.json were captured from a real
#: Alertmanager 0.25 fed by Prometheus 2.42.
FIXTURES = Path(__file__).parent / "fixtures"

PAGED = """
name: paged
title: Paged by an alert
severity: SEV3
match: {alertname: TestAlert}
severity_from: {label: severity, map: {critical: SEV1, warning: SEV3}}
on_alert_resolved: resolve
params:
  region: {type: string, default: nowhere}
steps:
  - id: look
    phase: triage
    action: note
    with: {text: "seen {{ (alert.labels.evil | default('-')) if alert else '-' }} in {{ params.region }}"}
  - id: fix
    phase: mitigate
    approval: {approvers: [carol, dave]}
    action: note
    with: {text: fixed}
"""

# More specific than `paged` for checkout alerts; its mitigation waits for a person.
PAGED_CHECKOUT = PAGED.replace("name: paged", "name: paged-checkout").replace(
    "match: {alertname: TestAlert}", "match: {alertname: TestAlert, service: checkout}"
)

CATCHALL = """
name: catchall
title: An alert no runbook matches
severity: SEV4
steps:
  - id: hold
    phase: communicate
    approval: {approvers: ["*"]}
    action: note
    with: {text: all clear}
"""

TOKENS = {"alertmanager-token-0123456789": "alertmanager", "carol-token-0123456789abc": "carol"}


def catalogue() -> Catalogue:
    entries = [Entry(parse_runbook(text)) for text in (PAGED, PAGED_CHECKOUT, CATCHALL)]
    return Catalogue(entries, fallback="catchall")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def am(
    group: str,
    *,
    status: str = "firing",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    starts_at: str = "2026-11-25T07:38:32.708Z",
    alerts: int = 2,
) -> dict[str, Any]:
    """The captured Alertmanager notification, for alert group `group`, about TestAlert."""
    body = fixture(
        "alertmanager-firing.json" if status == "firing" else "alertmanager-resolved.json"
    )
    body["groupKey"] = group
    body["status"] = status
    extra = {"alertname": "TestAlert", "service": "orders", **(labels or {})}
    body["commonLabels"] = {**body["commonLabels"], **extra}
    body["alerts"] = body["alerts"][:alerts]
    for alert in body["alerts"]:
        alert["status"] = status
        alert["labels"] = {**alert["labels"], **extra}
        alert["annotations"] = {**alert["annotations"], **(annotations or {})}
        alert["startsAt"] = starts_at
    if annotations:
        body["commonAnnotations"] = {**body["commonAnnotations"], **annotations}
    return body


@dataclass
class Api:
    url: str
    http: httpx.AsyncClient
    client: Client

    async def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return await self.http.post(f"{self.url}{path}", json=body, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(f"{self.url}{path}", **kw)


def collapsed(metrics: str) -> float:
    return next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("warroom_alert_duplicates_collapsed_total")
    )


@pytest.fixture
async def worker_queue(dev_env, task_queue, monkeypatch) -> AsyncIterator[str]:
    monkeypatch.setenv("WARROOM_TASK_QUEUE", task_queue)
    async with build_worker(dev_env.client, task_queue):
        yield task_queue


async def serve_api(client: Client | None, tokens: dict[str, str] | None = None, **kw: Any):
    app = web_app(catalogue(), Temporal(client), tokens=Tokens(tokens or {}), **kw)
    return running(app, "127.0.0.1", free_port())


@pytest.fixture
async def api(dev_env, worker_queue) -> AsyncIterator[Api]:
    async with await serve_api(dev_env.client) as url, httpx.AsyncClient(timeout=30) as http:
        yield Api(url, http, dev_env.client)


@pytest.fixture
async def authed_api(dev_env, worker_queue) -> AsyncIterator[Api]:
    async with (
        await serve_api(dev_env.client, TOKENS) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        yield Api(url, http, dev_env.client)
