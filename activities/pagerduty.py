"""Action `pagerduty.event`: trigger, acknowledge or resolve a PagerDuty alert through the
Events API v2; the dedup key defaults to the incident id so all three address the same alert."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities.boundary import action, clip
from activities.http import send
from warroom.contract.models import ActionResult
from warroom.errors import PagerDutyError
from warroom.language.actions import PagerDutyParams


class PagerDutyResult(ActionResult):
    """The dedup key PagerDuty filed the event under (use it to acknowledge / resolve)."""

    dedup_key: str


def event(params: PagerDutyParams, dedup_key: str) -> dict[str, Any]:
    """The Events API v2 body."""
    body: dict[str, Any] = {
        "routing_key": params.routing_key,
        "event_action": params.event_action,
        "client": "warroom",
    }
    if dedup_key:  # without one, PagerDuty makes one up and answers it
        body["dedup_key"] = dedup_key
    if params.event_action == "trigger":
        payload = {
            "summary": clip(params.summary or "", 1024),
            "source": params.source,
            "severity": params.severity,
            "component": params.component,
            "group": params.group,
            "custom_details": params.custom_details or None,
        }
        body["payload"] = {k: v for k, v in payload.items() if v is not None}
    return body


@action("pagerduty.event", PagerDutyParams)
async def pagerduty_event(params: PagerDutyParams) -> PagerDutyResult:
    """Send the event; 400 is a PagerDutyError with PagerDuty's message (not retried), 429 and
    5xx are retried."""
    # The workflow id is the incident id, so every event of an incident shares one alert.
    dedup_key = params.dedup_key or (activity.info().workflow_id or "")[:255]
    response = await send("POST", params.url, {}, event(params, dedup_key), [202, 400])
    try:
        answer: Any = response.json()
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    if response.status_code == 400:
        errors = "; ".join(map(str, answer.get("errors") or []))
        message = answer.get("message", "invalid event")
        raise PagerDutyError(
            f"PagerDuty refused the {params.event_action} event: {clip(f'{message}: {errors}', 500)}",
            code="invalid_event",
        )
    return PagerDutyResult(dedup_key=str(answer.get("dedup_key") or dedup_key))
