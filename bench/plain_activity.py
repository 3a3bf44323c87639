"""The baseline's activity: one GET with httpx, as `http.request` does it."""

from __future__ import annotations

import httpx
from temporalio import activity

from activities.http import tls_context


@activity.defn(name="bench.plain_get")
async def plain_get(url: str) -> int:
    async with httpx.AsyncClient(verify=tls_context()) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.status_code
