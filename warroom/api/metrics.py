"""The API's Prometheus metrics (`GET /metrics`), one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
        self.latency = Histogram(
            "warroom_http_request_duration_seconds",
            "HTTP request latency, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
