"""Action `statuspage.update`: create or update a public incident, and its components' status, on
the Atlassian Statuspage API (`/v1/pages/{page_id}/incidents[/{incident_id}]`)."""

from __future__ import annotations

from typing import Any

from activities.boundary import action, clip
from activities.http import send
from warroom.contract.models import ActionResult
from warroom.errors import StatuspageError
from warroom.language.actions import StatuspageParams

#: Statuspage answers its own errors as JSON `{"error": ...}`; 420 is its rate limit.
_ANSWERED_ERRORS = [400, 401, 403, 404, 420, 422]


class StatuspageResult(ActionResult):
    """The Statuspage incident (keep `incident_id` in the step's outputs to update it later)."""

    incident_id: str
    status: str
    shortlink: str | None = None


def incident(params: StatuspageParams) -> dict[str, Any]:
    """The request body: `{"incident": {...}}` with only the fields the step gave."""
    fields: dict[str, Any] = {"status": params.status}
    if params.name is not None:
        fields["name"] = clip(params.name, 255)
    if params.body is not None:
        fields["body"] = clip(params.body, 10000)
    if params.components:
        fields["component_ids"] = list(params.components)
        fields["components"] = dict(params.components)
    return {"incident": fields}


@action("statuspage.update", StatuspageParams)
async def statuspage_update(params: StatuspageParams) -> StatuspageResult:
    """Create (POST) or update (PATCH) the incident; 420/429/5xx are retried, other refusals not."""
    base = f"{params.api_url.rstrip('/')}/v1/pages/{params.page_id}/incidents"
    method, url = (
        ("PATCH", f"{base}/{params.incident_id}") if params.incident_id else ("POST", base)
    )
    headers = {"Authorization": f"OAuth {params.api_key}"}
    expect = [*range(200, 300), *_ANSWERED_ERRORS]
    response = await send(method, url, headers, incident(params), expect)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if not response.is_success or not isinstance(answer, dict) or "id" not in answer:
        error = answer.get("error") if isinstance(answer, dict) else response.text
        raise StatuspageError(
            f"Statuspage refused {method} {url} ({response.status_code}): {clip(str(error), 300)}",
            code=str(response.status_code),
            retryable=response.status_code == 420,
        )
    return StatuspageResult(
        incident_id=str(answer["id"]),
        status=str(answer.get("status", params.status)),
        shortlink=answer.get("shortlink"),
    )
