"""Action `http.request`: call an HTTP API; the JSON response is available to later steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio import activity

from warroom.actions import action, clip
from warroom.errors import ActionParamsError, HttpStatusError, HttpTransportError
from warroom.models import ActionResult

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_TEXT = 4096


class HttpRequestParams(BaseModel):
    """`with:` of an http.request step."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(None, alias="json")
    expect_status: list[int] | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("expect_status", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | str) else value


class HttpResult(ActionResult):
    """The response: status, parsed JSON body (or None), and text when the body is not JSON."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    status: int
    body: Any = Field(None, alias="json")
    text: str = ""


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "")
    return timedelta(seconds=int(value)) if value.isdigit() else None


async def send(
    method: str, url: str, headers: dict[str, str], body: Any, expect: list[int] | None
) -> httpx.Response:
    """Send one request; raise typed errors for transport failures and unexpected statuses."""
    timeout = activity.info().start_to_close_timeout or timedelta(seconds=30)
    try:
        async with httpx.AsyncClient(timeout=timeout.total_seconds()) as client:
            response = await client.request(method, url, headers=headers, json=body)
    except httpx.HTTPError as exc:
        raise HttpTransportError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
    except (httpx.InvalidURL, UnicodeEncodeError) as exc:
        # Retrying cannot fix a malformed URL or a header that is not ASCII.
        raise ActionParamsError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
    ok = response.status_code in expect if expect else response.is_success
    if not ok:
        wanted = ", ".join(map(str, expect)) if expect else "2xx"
        raise HttpStatusError(
            f"{method} {url} answered {response.status_code} (expected {wanted}): "
            f"{clip(response.text, 200)}",
            status=response.status_code,
            retryable=response.status_code in RETRYABLE_STATUSES,
            retry_after=_retry_after(response),
        )
    return response


@action("http.request", HttpRequestParams)
async def http_request(params: HttpRequestParams) -> HttpResult:
    """Call an HTTP API; 5xx, 408, 429 and transport errors are retried, other 4xx are not."""
    response = await send(
        params.method, params.url, params.headers, params.body, params.expect_status
    )
    try:
        body = response.json() if response.content else None
        text = ""
    except ValueError:
        body, text = None, clip(response.text, MAX_TEXT)
    return HttpResult(status=response.status_code, body=body, text=text)
