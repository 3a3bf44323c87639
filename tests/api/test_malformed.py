"""Bodies that break the schema get a 4xx naming what is wrong (Alertmanager does not retry
4xx, so only real breakage is refused); bodies over the limit get 413. Temporal is never asked:
the API here has no server to talk to."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import am, fixture, serve_api

AM = "/v1/alerts/alertmanager"
GRAFANA = "/v1/alerts/grafana"
GENERIC = "/v1/alerts"


def am_with(**changes):
    body = am("g")
    body.update(changes)
    return body


def am_alert(**changes):
    body = am("g")
    body["alerts"][0].update(changes)
    return body


def generic(**changes):
    body = fixture("generic-firing.json")
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def grafana(**changes):
    body = fixture("grafana-firing.json")
    body.update(changes)
    return body


RAW = object()  # marks a body sent as raw bytes
FORM = "application/x-www-form-urlencoded"
JSON = {"content-type": "application/json"}

CASES = [
    # (id, path, body or (RAW, bytes), status, message fragment)
    ("truncated-json", AM, (RAW, b'{"groupKey": '), 400, "the body is not valid JSON"),
    ("not-json", AM, (RAW, b"groupKey=x"), 400, "the body is not valid JSON"),
    ("nan", AM, (RAW, b'{"groupKey": NaN}'), 422, "groupKey: Input should be a valid string"),
    ("bad-utf8", AM, (RAW, b'{"groupKey": "\xff\xfe"}'), 400, "the body is not valid JSON"),
    ("deep-nesting", AM, (RAW, b"[" * 100_000 + b"]" * 100_000), 400, "not valid JSON"),
    ("empty-body", AM, (RAW, b""), 422, "Field required"),
    ("array", AM, [], 422, "Input should be a valid dictionary"),
    ("string", AM, "alert!", 422, "Input should be a valid dictionary"),
    ("null", AM, None, 422, "Field required"),
    (
        "empty-object",
        AM,
        {},
        422,
        "groupKey: Field required; status: Field required; alerts: Field required",
    ),
    (
        "no-alerts",
        AM,
        {k: v for k, v in am("g").items() if k != "alerts"},
        422,
        "alerts: Field required",
    ),
    ("alerts-empty", AM, am_with(alerts=[]), 422, "alerts: List should have at least 1 item"),
    ("alerts-not-list", AM, am_with(alerts={"a": 1}), 422, "alerts: Input should be a valid list"),
    (
        "alerts-too-many",
        AM,
        am_with(alerts=[am("g")["alerts"][0]] * 1001),
        422,
        "alerts: List should have at most 1000 items",
    ),
    (
        "alert-not-object",
        AM,
        am_with(alerts=["firing"]),
        422,
        "alerts.0: Input should be a valid dictionary",
    ),
    (
        "status-unknown",
        AM,
        am_with(status="pending"),
        422,
        "status: Input should be 'firing' or 'resolved'",
    ),
    (
        "alert-status-unknown",
        AM,
        am_alert(status="ok"),
        422,
        "alerts.0.status: Input should be 'firing' or 'resolved'",
    ),
    (
        "alert-no-status",
        AM,
        am_with(alerts=[{"labels": {"a": "b"}}]),
        422,
        "alerts.0.status: Field required",
    ),
    (
        "alert-no-labels",
        AM,
        am_with(alerts=[{"status": "firing"}]),
        422,
        "alerts.0.labels: Field required",
    ),
    (
        "labels-list",
        AM,
        am_alert(labels=["a"]),
        422,
        "alerts.0.labels: Input should be a valid dictionary",
    ),
    (
        "label-int",
        AM,
        am_alert(labels={"severity": 2}),
        422,
        "alerts.0.labels.severity: Input should be a valid string",
    ),
    (
        "label-null",
        AM,
        am_alert(labels={"severity": None}),
        422,
        "alerts.0.labels.severity: Input should be a valid string",
    ),
    (
        "annotation-list",
        AM,
        am_alert(annotations={"summary": ["a"]}),
        422,
        "alerts.0.annotations.summary: Input should be a valid string",
    ),
    (
        "starts-at-words",
        AM,
        am_alert(startsAt="yesterday"),
        422,
        "alerts.0.startsAt: Input should be a valid datetime",
    ),
    (
        "ends-at-object",
        AM,
        am_alert(endsAt={"t": 1}),
        422,
        "alerts.0.endsAt: Input should be a valid datetime",
    ),
    (
        "group-key-empty",
        AM,
        am_with(groupKey=""),
        422,
        "groupKey: String should have at least 1 character",
    ),
    (
        "group-key-long",
        AM,
        am_with(groupKey="k" * 513),
        422,
        "groupKey: String should have at most 512 characters",
    ),
    ("group-key-number", AM, am_with(groupKey=5), 422, "groupKey: Input should be a valid string"),
    (
        "fingerprint-empty",
        AM,
        am_alert(fingerprint=""),
        422,
        "alerts.0.fingerprint: String should have at least 1 character",
    ),
    (
        "truncated-negative",
        AM,
        am_with(truncatedAlerts=-1),
        422,
        "truncatedAlerts: Input should be greater than or equal to 0",
    ),
    (
        "truncated-words",
        AM,
        am_with(truncatedAlerts="many"),
        422,
        "truncatedAlerts: Input should be a valid integer",
    ),
    (
        "common-labels-list",
        AM,
        am_with(commonLabels=["a"]),
        422,
        "commonLabels: Input should be a valid dictionary",
    ),
    (
        "common-label-bool",
        AM,
        am_with(commonLabels={"a": True}),
        422,
        "commonLabels.a: Input should be a valid string",
    ),
    ("grafana-empty", GRAFANA, {}, 422, "groupKey: Field required"),
    (
        "grafana-org-words",
        GRAFANA,
        grafana(orgId="main"),
        422,
        "orgId: Input should be a valid integer",
    ),
    (
        "grafana-alert-no-labels",
        GRAFANA,
        grafana(alerts=[{"status": "firing"}]),
        422,
        "alerts.0.labels: Field required",
    ),
    (
        "grafana-status",
        GRAFANA,
        grafana(status="alerting"),
        422,
        "status: Input should be 'firing' or 'resolved'",
    ),
    ("generic-empty", GENERIC, {}, 422, "title: Field required; dedup_key: Field required"),
    ("generic-no-dedup", GENERIC, generic(dedup_key=...), 422, "dedup_key: Field required"),
    (
        "generic-title-empty",
        GENERIC,
        generic(title=""),
        422,
        "title: String should have at least 1 character",
    ),
    (
        "generic-title-long",
        GENERIC,
        generic(title="t" * 2001),
        422,
        "title: String should have at most 2000 characters",
    ),
    (
        "generic-status",
        GENERIC,
        generic(status="open"),
        422,
        "status: Input should be 'firing' or 'resolved'",
    ),
    (
        "generic-label-int",
        GENERIC,
        generic(labels={"a": 1}),
        422,
        "labels.a: Input should be a valid string",
    ),
    (
        "generic-annotations-list",
        GENERIC,
        generic(annotations=["a"]),
        422,
        "annotations: Input should be a valid dictionary",
    ),
    (
        "generic-severity-int",
        GENERIC,
        generic(severity=1),
        422,
        "severity: Input should be a valid string",
    ),
    (
        "generic-source-newline",
        GENERIC,
        generic(source="a\nb"),
        422,
        "source: Value error, must be a single line without control characters",
    ),
    (
        "generic-source-empty",
        GENERIC,
        generic(source=""),
        422,
        "source: String should have at least 1 character",
    ),
    ("generic-array", GENERIC, [generic()], 422, "Input should be a valid dictionary"),
    ("declare-empty", "/v1/incidents", {}, 422, "runbook: Field required; summary: Field required"),
    (
        "declare-unknown-runbook",
        "/v1/incidents",
        {"runbook": "../../etc/passwd", "summary": "x", "by": "eve"},
        422,
        "runbook: no runbook named '../../etc/passwd' (known: catchall, paged, paged-checkout)",
    ),
    (
        "approve-no-step",
        "/v1/incidents/inc-x/approve",
        {"by": "carol"},
        422,
        "step: Field required",
    ),
    (
        "approve-step-newline",
        "/v1/incidents/inc-x/approve",
        {"step": "a\nb", "by": "carol"},
        422,
        "step: Value error, must be a single line",
    ),
    (
        "severity-unknown",
        "/v1/incidents/inc-x/severity",
        {"severity": "SEV9", "by": "carol"},
        422,
        "severity: Input should be 'SEV1', 'SEV2', 'SEV3' or 'SEV4'",
    ),
    (
        "assign-role",
        "/v1/incidents/inc-x/assign",
        {"role": "king", "to": "x", "by": "carol"},
        422,
        "role: Input should be 'commander', 'comms' or 'ops'",
    ),
    (
        "bad-incident-id",
        "/v1/incidents/not an id/ack",
        {"by": "carol"},
        422,
        "incident_id: String should match pattern",
    ),
    (
        "decision-without-by",
        "/v1/incidents/inc-x/ack",
        {},
        422,
        "by: say who acts (the API runs without tokens)",
    ),
]


@pytest.fixture(scope="module")
async def offline_api():
    """The API with no Temporal behind it (nothing here may reach it)."""
    async with await serve_api(None, max_body=1024 * 1024) as url, httpx.AsyncClient() as http:
        yield url, http


@pytest.mark.parametrize(
    ("path", "body", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_a_malformed_body_is_refused_with_its_reason(
    offline_api, path, body, status, message
):
    url, http = offline_api
    if isinstance(body, tuple) and body[0] is RAW:
        reply = await http.post(
            f"{url}{path}", content=body[1], headers={"content-type": "application/json"}
        )
    else:
        reply = await http.post(f"{url}{path}", json=body)
    assert reply.status_code == status, reply.text
    assert message in reply.json()["error"], reply.json()


def test_there_are_forty_or_more_cases():
    assert len(CASES) >= 40


async def test_bodies_over_the_default_limit_of_one_mebibyte_get_413(offline_api):
    url, http = offline_api
    big = json.dumps(am("g", annotations={"summary": "x" * (400 * 1024)})).encode()
    assert 1024 * 1024 < len(big) < 2 * 1024 * 1024
    reply = await http.post(f"{url}{AM}", content=big, headers=JSON)
    assert reply.status_code == 413
    assert reply.json() == {"error": "request body over the limit of 1,048,576 bytes"}


async def test_the_size_limit_is_configurable():
    async with await serve_api(None, max_body=2048) as url, httpx.AsyncClient() as http:
        reply = await http.post(f"{url}{AM}", json=am("g", annotations={"summary": "x" * 3000}))
        assert reply.status_code == 413
        assert reply.json()["error"] == "request body over the limit of 2,048 bytes"

        body = json.dumps(am("g", annotations={"summary": "x" * 2000})).encode()

        async def chunks():  # chunked: no Content-Length to trust
            yield body[:1500]
            yield body[1500:]

        reply = await http.post(f"{url}{AM}", content=chunks(), headers=JSON)
        assert reply.status_code == 413
        small = await http.post(f"{url}{AM}", json={})
        assert small.status_code == 422


@pytest.mark.parametrize("content_type", [None, "text/plain", FORM])
async def test_a_body_that_does_not_say_it_is_json_is_refused(offline_api, content_type):
    """A cross-site HTML form can send these types without asking first: never read as JSON."""
    url, http = offline_api
    headers = {"content-type": content_type} if content_type else {}
    reply = await http.post(f"{url}{GENERIC}", content=b"{}", headers=headers)
    assert reply.status_code == 415
    assert reply.json()["error"].startswith("send JSON with Content-Type: application/json")
