"""pagerduty.event against a loopback Events API v2 that validates events as PagerDuty does."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.pagerduty import pagerduty_event
from tests.activities.actions import FAILURE_MODES, FailureMode, HttpTarget, failure, run
from tests.fakehttp import FakeHttp, Recorded, Reply

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, like a real integration key
SEVERITIES = {"critical", "error", "warning", "info"}


def events_api(rec: Recorded) -> Reply:
    """PagerDuty's checks: routing key, action, dedup key length, and a trigger's payload."""
    event: Any = rec.body if isinstance(rec.body, dict) else {}
    errors = []
    if len(event.get("routing_key", "")) != 32:
        errors.append("'routing_key' is invalid")
    if event.get("event_action") not in {"trigger", "acknowledge", "resolve"}:
        errors.append("'event_action' is invalid")
    if len(event.get("dedup_key", "")) > 255:
        errors.append("'dedup_key' is too long")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        errors += [f"'payload.{f}' is missing" for f in ("summary", "source") if not payload.get(f)]
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' is invalid")
    elif not event.get("dedup_key"):
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if errors:
        return Reply(
            400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        )
    dedup_key = event.get("dedup_key") or "generated-by-pagerduty"
    return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})


def trigger(base: str, **more: Any) -> dict[str, Any]:
    return {
        "url": f"{base}/v2/enqueue",
        "event_action": "trigger",
        "routing_key": "{{ secret.PD_KEY }}",
        "summary": "Checkout 5xx at 20%",
        "source": "warroom",
        "severity": "critical",
        **more,
    }


@pytest.fixture(autouse=True)
def routing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_SECRET_PD_KEY", ROUTING_KEY)


async def test_trigger_sends_a_valid_event_keyed_by_the_incident(fake_http: FakeHttp):
    fake_http.routes[("POST", "/v2/enqueue")] = events_api
    result = await run(
        pagerduty_event,
        trigger(fake_http.url, custom_details={"runbook": "checkout"}),
        workflow_id="inc-checkout-20261125-1015",
    )
    assert result.dedup_key == "inc-checkout-20261125-1015"
    (call,) = fake_http.requests
    assert call.body == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "inc-checkout-20261125-1015",
        "client": "warroom",
        "payload": {
            "summary": "Checkout 5xx at 20%",
            "source": "warroom",
            "severity": "critical",
            "custom_details": {"runbook": "checkout"},
        },
    }
    assert ROUTING_KEY not in result.model_dump_json()


@pytest.mark.parametrize("event_action", ["acknowledge", "resolve"])
async def test_acknowledge_and_resolve_address_the_same_alert(
    fake_http: FakeHttp, event_action: str
):
    fake_http.routes[("POST", "/v2/enqueue")] = events_api
    params = {
        "url": f"{fake_http.url}/v2/enqueue",
        "event_action": event_action,
        "routing_key": "{{ secret.PD_KEY }}",
    }
    result = await run(pagerduty_event, params, workflow_id="inc-x")
    assert result.dedup_key == "inc-x"
    assert fake_http.requests[0].body == {
        "routing_key": ROUTING_KEY,
        "event_action": event_action,
        "dedup_key": "inc-x",
        "client": "warroom",
    }


async def test_a_long_incident_id_is_cut_to_pagerdutys_255_characters(fake_http: FakeHttp):
    fake_http.routes[("POST", "/v2/enqueue")] = events_api
    result = await run(pagerduty_event, trigger(fake_http.url), workflow_id="inc-" + "x" * 300)
    assert result.dedup_key == ("inc-" + "x" * 300)[:255]


async def test_invalid_event_carries_pagerdutys_message_without_the_routing_key(
    fake_http: FakeHttp,
):
    fake_http.routes[("POST", "/v2/enqueue")] = events_api
    err = await failure(
        pagerduty_event, trigger(fake_http.url, routing_key="{{ secret.PD_KEY }}-bad")
    )
    assert err.type == "warroom.PagerDutyError"
    assert err.non_retryable
    assert "Event object is invalid: 'routing_key' is invalid" in err.message
    assert ROUTING_KEY not in err.message


async def test_a_trigger_without_summary_is_refused_before_sending(fake_http: FakeHttp):
    params = trigger(fake_http.url)
    del params["summary"], params["severity"]
    err = await failure(pagerduty_event, params)
    assert err.type == "warroom.ActionParamsError"
    assert "a trigger needs summary, severity" in err.message
    assert fake_http.requests == []


TARGET = HttpTarget(
    fn=pagerduty_event,
    method="POST",
    path="/v2/enqueue",
    params=trigger,
    ok=Reply(202, {"status": "success", "message": "Event processed", "dedup_key": "k"}),
    refused=Reply(
        400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["x"]}
    ),
    refused_type="warroom.PagerDutyError",
)


@pytest.mark.parametrize("mode", FAILURE_MODES, ids=lambda m: m.__name__)
async def test_failure_modes(mode: FailureMode, fake_http: FakeHttp, time_env: WorkflowEnvironment):
    await mode(TARGET, fake_http, time_env)
