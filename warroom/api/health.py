"""`/healthz` (the process is up), `/readyz` (Temporal answers), `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.client import Client

from warroom.api.auth import caller

router = APIRouter(tags=["health"])

#: How long /readyz waits for Temporal's health check.
READY_TIMEOUT = 3.0


@router.get("/healthz", summary="The API process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Temporal is reachable (503 when it is not)")
async def readyz(request: Request) -> JSONResponse:
    temporal: Callable[[], Awaitable[Client]] = request.app.state.temporal
    try:
        client = await asyncio.wait_for(temporal(), READY_TIMEOUT)
        await client.service_client.check_health(timeout=timedelta(seconds=READY_TIMEOUT))
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return JSONResponse({"status": "unavailable", "error": f"Temporal: {reason}"}, 503)
    return JSONResponse({"status": "ready", "temporal": client.service_client.config.target_host})


@router.get("/metrics", summary="Prometheus metrics", dependencies=[Depends(caller)])
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
