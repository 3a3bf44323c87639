"""The baselines' activities: one GET, or one JSON POST of a status text, with httpx, as
`http.request` and `webhook.post` do them."""

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


@activity.defn(name="bench.plain_post")
async def plain_post(url: str, text: str) -> int:
    async with httpx.AsyncClient(verify=tls_context()) as client:
        response = await client.post(url, json={"text": text})
        response.raise_for_status()
        return response.status_code
