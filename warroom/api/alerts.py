"""`POST /v1/alerts/*`: Alertmanager, Grafana and generic JSON notifications open or feed
incidents (see `warroom.intake.delivery`); 2xx only once Temporal stored every alert. With
tokens, an incident an alert opens is declared by the sender's identity (its token's), never
by a name in the body; the token needs the `alerts` scope (or the responder role)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from warroom.api.auth import alert_sender
from warroom.api.errors import responses
from warroom.intake.delivery import DELIVERY_TIMEOUT, Delivery, Intake, Notification
from warroom.intake.sources import AlertmanagerNotification, GenericAlert, GrafanaNotification

router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    dependencies=[Depends(alert_sender)],
    responses=responses(400, 401, 403, 413, 422, 503),
)
Caller = Annotated[str | None, Depends(alert_sender)]


async def deliver(request: Request, note: Notification, sender: str | None) -> Delivery:
    intake: Intake = request.app.state.intake
    note.declared_by = sender
    metrics = request.app.state.metrics
    try:
        done = await asyncio.wait_for(intake.deliver(note), DELIVERY_TIMEOUT)
    except BaseException:
        metrics.notifications.labels(note.source, "error").inc()
        raise
    metrics.notifications.labels(note.source, done.outcome).inc()
    if done.outcome == "opened":
        metrics.incidents_opened.labels(done.runbook).inc()
    return done


@router.post("/alertmanager", summary="Alertmanager webhook (payload version 4)")
async def alertmanager(
    body: AlertmanagerNotification, request: Request, sender: Caller
) -> Delivery:
    return await deliver(request, body.notification(), sender)


@router.post("/grafana", summary="Grafana unified-alerting webhook")
async def grafana(body: GrafanaNotification, request: Request, sender: Caller) -> Delivery:
    return await deliver(request, body.notification(), sender)


@router.post("", summary="One alert as generic JSON")
async def generic(body: GenericAlert, request: Request, sender: Caller) -> Delivery:
    return await deliver(request, body.notification(), sender)
