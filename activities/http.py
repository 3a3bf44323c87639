"""Action `http.request`: call an HTTP API; the JSON response is available to later steps.

`send` is the one HTTP call every action uses: it reads each body with a size cap and turns
transport failures, unexpected statuses and Retry-After into typed errors.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ConfigDict, Field
from temporalio import activity

from activities.boundary import action, carries_secret, clip, idempotency_key
from warroom.contract.models import ActionResult
from warroom.errors import (
    ActionParamsError,
    HttpStatusError,
    HttpTransportError,
    RedirectRefused,
    ResponseTooLarge,
    UnsendableValue,
)
from warroom.language.actions import HttpRequestParams, header_problem

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_TEXT = 4096
#: Largest response body an action reads (it ends up in workflow history).
MAX_RESPONSE_BYTES = 1024 * 1024
#: How much of an unexpected answer's body is read: the error message shows only its start.
ERROR_BODY_BYTES = 8 * 1024
#: A Retry-After beyond this is nonsense; the activity boundary caps it further (max_interval).
_RETRY_AFTER_CEILING = timedelta(days=365)


class HttpResult(ActionResult):
    """The response: status, parsed JSON body (or None), and text when the body is not JSON."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    status: int
    body: Any = Field(None, alias="json")
    text: str = ""


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """Retry-After as a delay: delta-seconds or an HTTP-date; None when absent or malformed."""
    value = (value or "").strip()
    if re.fullmatch(r"\d+", value, re.ASCII):
        return min(timedelta(seconds=min(int(value), 10**10)), _RETRY_AFTER_CEILING)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    delay = when - (now or datetime.now(UTC))
    return min(max(delay, timedelta(0)), _RETRY_AFTER_CEILING)


@dataclass(frozen=True)
class Answer:
    """A response whose body was read within the size cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    encoding: str

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)


async def _read_body(response: httpx.Response, limit: int, *, truncate: bool, what: str) -> bytes:
    """Read at most `limit` bytes (decoded) of the body, then stop and drop the connection."""
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > limit:
        raise _too_large(what, limit)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise _too_large(what, limit)
    return bytes(body)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every call: building it (loading the CA bundle) cost about 16 ms,
    most of an HTTP step's own time."""
    return httpx.create_ssl_context()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (the default one when the URL names none): a redirect to any
    other origin leaves the party a step's secrets were meant for."""
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _keep_secrets_home() -> Callable[[httpx.Request], Awaitable[None]]:
    """A request hook (httpx calls it before every request it sends, redirects included) that
    strips every header carrying a secret from a redirect to another origin, and refuses to
    re-send a body carrying one there (307/308). httpx itself drops only Authorization and
    Cookie, so `X-Api-Key: {{ secret.KEY }}` would otherwise follow to any host."""
    home: tuple[str, str, int | None] | None = None

    async def guard(request: httpx.Request) -> None:
        nonlocal home
        if home is None:  # the first request: the origin the step addressed
            home = _origin(request.url)
            return
        if _origin(request.url) == home:
            return
        for name in {n for n, v in request.headers.multi_items() if carries_secret(v)}:
            del request.headers[name]
        body = await request.aread()
        if body and carries_secret(body.decode("utf-8", "replace")):
            raise RedirectRefused(
                f"{request.method} redirected to another origin ({request.url.scheme}://"
                f"{request.url.netloc.decode('ascii', 'replace')}) with a body that carries a "
                "secret: not followed; point the step's `url` at the final address"
            )

    return guard


def _sendable(what: str, headers: dict[str, str]) -> dict[str, str]:
    """`headers` without the spaces around values (not part of a field value, and refused by
    the HTTP library); UnsendableValue for a name or value HTTP cannot carry. Every action's
    headers pass here, those derived from a token (Slack, Statuspage) included."""
    stripped = {name: value.strip(" \t") for name, value in headers.items()}
    for name, value in stripped.items():
        if (problem := header_problem(name, value)) is not None:
            raise UnsendableValue(f"{what}: {problem}")
    return stripped


def _too_large(what: str, limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"{what}: response too large: the body exceeds the limit of {limit} bytes "
        f"({limit // 1024} KiB); ask the endpoint for less (a filter, a page)",
        limit=limit,
    )


async def send(
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
    expect: list[int] | None,
    *,
    max_bytes: int = MAX_RESPONSE_BYTES,
    query: dict[str, Any] | None = None,
    text: str | None = None,
    follow_redirects: bool = False,
) -> Answer:
    """Send one request and read its body (at most `max_bytes`); raise typed errors for transport
    failures, unexpected statuses and bodies over the cap."""
    timeout = activity.info().start_to_close_timeout or timedelta(seconds=30)
    what = f"{method} {url}"
    headers = _sendable(what, headers)
    try:
        async with (
            httpx.AsyncClient(
                timeout=timeout.total_seconds(),
                follow_redirects=follow_redirects,
                verify=tls_context(),
                event_hooks={"request": [_keep_secrets_home()]},
            ) as client,
            client.stream(
                method, url, headers=headers, json=body, params=query, content=text
            ) as response,
        ):
            ok = response.status_code in expect if expect else response.is_success
            limit = max_bytes if ok else min(max_bytes, ERROR_BODY_BYTES)
            content = await _read_body(response, limit, truncate=not ok, what=what)
    except httpx.HTTPError as exc:
        raise HttpTransportError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:  # retrying cannot fix a malformed URL
        raise ActionParamsError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except UnicodeEncodeError as exc:  # text that is no text (a lone surrogate) in the URL
        raise UnsendableValue(
            f"{what}: the request holds text that cannot be encoded: {exc}"
        ) from exc
    answer = Answer(response.status_code, response.headers, content, response.encoding or "utf-8")
    if not ok:
        wanted = ", ".join(map(str, expect)) if expect else "2xx"
        raise HttpStatusError(
            f"{what} answered {answer.status_code} (expected {wanted}): {clip(answer.text, 200)}",
            status=answer.status_code,
            retryable=answer.status_code in RETRYABLE_STATUSES,
            retry_after=retry_after(answer.headers.get("retry-after")),
        )
    return answer


@action("http.request", HttpRequestParams)
async def http_request(params: HttpRequestParams) -> HttpResult:
    """Call an HTTP API; 5xx, 408, 429 and transport errors are retried, other 4xx are not."""
    headers = dict(params.headers)
    key = idempotency_key()
    if key and not any(name.lower() == "idempotency-key" for name in headers):
        # A step retried after a worker crash sends the same key: the far side acts once.
        headers["Idempotency-Key"] = key
    if (auth := params.auth_header()) is not None:
        headers["Authorization"] = auth
    response = await send(
        params.method,
        params.url,
        headers,
        params.json_body,
        params.expect_status,
        query=params.query or None,
        text=params.text_body,
        follow_redirects=params.follow_redirects,
    )
    try:
        body = response.json() if response.content else None
        text = ""
    except ValueError:
        body, text = None, clip(response.text, MAX_TEXT)
    return HttpResult(status=response.status_code, body=body, text=text)
