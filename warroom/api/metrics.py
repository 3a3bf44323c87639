"""The API's Prometheus metrics (`GET /metrics`), one registry per app."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.notifications = Counter(
            "warroom_alert_notifications",
            "Alert notifications received, by source and outcome.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.incidents_opened = Counter(
            "warroom_incidents_opened",
            "Incidents opened by alerts, by runbook.",
            ["runbook"],
            registry=self.registry,
        )
        self.duplicates_collapsed = Counter(
            "warroom_alert_duplicates_collapsed",
            "Alerts not sent to Temporal: the same alert was in flight, or stored moments ago.",
            registry=self.registry,
        )
        self.temporal_errors = Counter(
            "warroom_temporal_errors",
            "Requests that failed because Temporal was unreachable or refused.",
            registry=self.registry,
        )
        self.access = Counter(
            "warroom_access_events",
            "Sign-ins, sign-outs, refused sign-ins and refused actions, by how authenticated.",
            ["event", "via"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "warroom_http_request_duration_seconds",
            "HTTP request latency, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )


class Measured:
    """ASGI middleware: each HTTP request's latency by method, route and status. Plain ASGI:
    Starlette's `BaseHTTPMiddleware` costs a task group and a response stream per request."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app, self.latency = app, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.latency.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )
