"""Actions `prometheus.query` and `prometheus.wait`: instant queries against the Prometheus HTTP
API (`/api/v1/query`), once or until a condition on the result holds."""

from __future__ import annotations

import math
import os
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from activities.boundary import action, clip
from activities.http import send
from activities.polling import WaitResult, poll_until
from warroom.contract.models import ActionResult
from warroom.errors import ActionParamsError, PrometheusError
from warroom.language.actions import PrometheusQueryParams, PrometheusWaitParams

URL_ENV = "WARROOM_PROMETHEUS_URL"
#: Series kept in a result; a query that matches more is cut (results stay small).
MAX_SAMPLES = 50
#: Prometheus answers errors in JSON with these statuses (400 bad_data, 422 execution);
#: 503 (timeout, overload) and other 5xx stay retryable HttpStatusErrors from `send`.
_ANSWERED_ERRORS = [400, 422]


class Sample(BaseModel):
    """One series of an instant vector (or the scalar, with no labels)."""

    # Prometheus sends NaN and ±Inf; JSON has no such numbers, so they travel as strings.
    model_config = ConfigDict(ser_json_inf_nan="strings")

    labels: dict[str, str] = Field(default_factory=dict)
    value: float


class PrometheusResult(ActionResult):
    """`value` is the only sample's value (None when there are none or several)."""

    model_config = ConfigDict(ser_json_inf_nan="strings")

    result_type: str
    samples: list[Sample]
    value: float | None = None
    truncated: bool = False


def base_url(url: str | None) -> str:
    """The step's `url`, else the worker's WARROOM_PROMETHEUS_URL."""
    found = url or os.environ.get(URL_ENV, "")
    if not found:
        raise ActionParamsError(
            f"no Prometheus to ask: give the step a `url` or set {URL_ENV} on the worker"
        )
    return found.rstrip("/")


async def instant_query(url: str | None, query: str) -> PrometheusResult:
    """Run one instant query; Prometheus's own errors are non-retryable PrometheusErrors."""
    endpoint = httpx.URL(base_url(url) + "/api/v1/query", params={"query": query})
    expect = [*range(200, 300), *_ANSWERED_ERRORS]
    response = await send("GET", str(endpoint), {}, None, expect)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("status") not in ("success", "error"):
        raise PrometheusError(
            f"{endpoint.copy_with(query=None)} is not a Prometheus API "
            f"(answered {response.status_code}: {clip(response.text, 200)})",
            error_type="bad_response",
        )
    if answer["status"] == "error":
        error_type = str(answer.get("errorType", "unknown"))
        raise PrometheusError(
            f"Prometheus refused the query ({error_type}): {clip(str(answer.get('error')), 500)}",
            error_type=error_type,
        )
    return _result(answer.get("data") or {})


def _result(data: dict[str, Any]) -> PrometheusResult:
    kind = str(data.get("resultType", ""))
    raw = data.get("result")
    if kind == "scalar" and isinstance(raw, list):
        samples = [Sample(value=float(raw[1]))]
    elif kind == "vector" and isinstance(raw, list):
        samples = [Sample(labels=s["metric"], value=float(s["value"][1])) for s in raw]
    else:
        raise PrometheusError(
            f"an instant query answered {kind!r}; write a query that returns a vector or scalar",
            error_type="bad_result_type",
        )
    return PrometheusResult(
        result_type=kind,
        samples=samples[:MAX_SAMPLES],
        value=samples[0].value if len(samples) == 1 else None,
        truncated=len(samples) > MAX_SAMPLES,
    )


@action("prometheus.query", PrometheusQueryParams)
async def prometheus_query(params: PrometheusQueryParams) -> PrometheusResult:
    """Run an instant query; unreachable or 5xx is retried, a refused query is not."""
    return await instant_query(params.url, params.query)


@action("prometheus.wait", PrometheusWaitParams)
async def prometheus_wait(params: PrometheusWaitParams) -> WaitResult:
    """Poll a query until every sample satisfies `condition` for `hold_for`.

    An empty result never satisfies it (write `... or vector(0)` when no data means zero).
    """

    async def check() -> tuple[Any, bool]:
        result = await instant_query(params.url, params.query)
        values = [s.value for s in result.samples]
        shown = values[0] if len(values) == 1 else values
        held = bool(values) and all(params.condition.holds(v) for v in values)
        return _json_safe(shown), held

    return await poll_until(params, check, f"{params.query} {params.condition}")


def _json_safe(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value
