"""The `make demo` stand-in for production: a checkout service whose error rate is high after a bad
deploy and drops after `POST /rollback`; it also receives the status-update webhooks."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warroom.entry.jsonserver import JsonServer, Reply, Request
from warroom.language.loader import SHIPPED_RUNBOOKS
from warroom.language.people import load_people, people_path

BAD_VERSION, GOOD_VERSION = "v2.4.1", "v2.4.0"
BAD_ERROR_RATE, GOOD_ERROR_RATE, HEALTHY_BELOW = 0.23, 0.004, 0.01
#: Right after a rollback: down, but not yet healthy (below the demo alert's 5%, so the alert
#: resolves while the incident still verifies).
RECOVERING_ERROR_RATE = 0.03
#: Seconds a rollback takes to bring the error rate to normal (the verify step retries meanwhile).
RECOVERY_SECONDS = 2.0


class CheckoutService:
    """GET /stats, GET /health (503 while degraded), POST /rollback, POST /updates (webhook),
    POST /pages (the on-call person's pager: their webhook contact method in the demo)."""

    def __init__(
        self,
        on_update: Callable[[str], None] | None = None,
        recovery_seconds: float = RECOVERY_SECONDS,
        on_page: Callable[[str], None] | None = None,
    ) -> None:
        self.recovery_seconds = recovery_seconds
        self.version = BAD_VERSION
        self.rolled_back_at: float | None = None
        self.updates: list[str] = []
        self._on_update = on_update or (lambda text: None)
        self.pages: list[str] = []
        self._on_page = on_page or (lambda text: None)
        self._server = JsonServer(self.handle)
        self._metrics: tuple[Any, Any] | None = None

    @property
    def url(self) -> str:
        return self._server.url

    def handle(self, req: Request) -> Reply:
        route = (req.method, req.path)
        if route == ("GET", "/stats"):
            return Reply(200, self.stats())
        if route == ("GET", "/health"):
            healthy = self.error_rate() < HEALTHY_BELOW
            return Reply(200 if healthy else 503, {"healthy": healthy, **self.stats()})
        if route == ("POST", "/rollback") and isinstance(req.body, dict):
            return self.rollback(req.body)
        if route in (("POST", "/updates"), ("POST", "/pages")) and isinstance(req.body, dict):
            text = req.body.get("text")
            if not isinstance(text, str) or not text:
                return Reply(400, {"error": f"a POST to {req.path} needs a non-empty `text`"})
            if req.path == "/pages":
                self.pages.append(text)
                self._on_page(text)
            else:
                self.updates.append(text)
                self._on_update(text)
            return Reply(200, {"ok": True})
        return Reply(404, {"error": f"no route {req.method} {req.path}"})

    def export_secrets(self) -> None:
        """Point demo-checkout's worker-side secrets at this service (the worker is in-process)."""
        os.environ["WARROOM_SECRET_CHECKOUT_API"] = self.url
        os.environ["WARROOM_SECRET_STATUS_WEBHOOK"] = f"{self.url}/updates"

    def export_people(self, directory: Path) -> None:
        """A people file for the demo in `directory` ($WARROOM_PEOPLE): the shipped people,
        each paged through a webhook to this service's /pages."""
        shipped = load_people(people_path(SHIPPED_RUNBOOKS))
        people = {
            name: {
                **p.model_dump(exclude_none=True, exclude={"contact"}),
                "webhook": f"{self.url}/pages",
                "contact": ["webhook"],
            }
            for name, p in shipped.people.items()
        }
        path = directory / "people.yaml"
        path.write_text(json.dumps(people, indent=2))  # JSON is YAML
        os.environ["WARROOM_PEOPLE"] = str(path)

    def error_rate(self) -> float:
        if self.rolled_back_at is None:
            return BAD_ERROR_RATE
        recovered = time.monotonic() - self.rolled_back_at >= self.recovery_seconds
        return GOOD_ERROR_RATE if recovered else RECOVERING_ERROR_RATE

    def stats(self) -> dict[str, Any]:
        return {
            "service": "checkout",
            "version": self.version,
            "previous_version": GOOD_VERSION,
            "error_rate": self.error_rate(),
        }

    def rollback(self, body: dict[str, Any]) -> Reply:
        if body.get("to_version") != GOOD_VERSION:
            return Reply(409, {"error": f"can only roll back to {GOOD_VERSION}"})
        if self.rolled_back_at is None:
            self.version, self.rolled_back_at = GOOD_VERSION, time.monotonic()
        return Reply(200, {"rolled_back_to": GOOD_VERSION})

    def metrics_target(self) -> str:
        """HOST:PORT where Prometheus scrapes `checkout_error_rate` (started on first use)."""
        if self._metrics is None:
            from prometheus_client import CollectorRegistry, start_http_server
            from prometheus_client.core import GaugeMetricFamily

            service = self

            class _Collector:
                def collect(self) -> Any:
                    yield GaugeMetricFamily(
                        "checkout_error_rate",
                        "Share of checkout requests failing.",
                        service.error_rate(),
                    )

            registry = CollectorRegistry()
            registry.register(_Collector())
            self._metrics = start_http_server(0, addr="127.0.0.1", registry=registry)
        server, _ = self._metrics
        return f"127.0.0.1:{server.server_port}"

    def __enter__(self) -> CheckoutService:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        if self._metrics is not None:
            server, thread = self._metrics
            server.shutdown()
            server.server_close()
            thread.join()
