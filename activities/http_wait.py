"""Action `http.wait`: poll a URL until a condition on its JSON holds (`json.error_rate < 0.01`),
optionally for several consecutive checks; the verify step after a fix."""

from __future__ import annotations

from typing import Any

from activities.boundary import action
from activities.http import send
from activities.polling import WaitResult, poll_until
from warroom.language.actions import HttpWaitParams


@action("http.wait", HttpWaitParams)
async def http_wait(params: HttpWaitParams) -> WaitResult:
    """GET `url` every `interval` until `condition` holds `hold_for` checks in a row.

    Retryable failures (connection refused, 5xx, 429, a check past `request_timeout`) count as
    checks that did not hold; a 4xx ends the wait; `timeout` ends it as WaitTimedOut.
    """

    async def check() -> tuple[Any, bool]:
        response = await send("GET", params.url, params.headers, None, None)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        value = params.condition.value_of({"json": body, "status": response.status_code})
        return value, params.condition.holds(value)

    return await poll_until(params, check, f"{params.url}: {params.condition}")
