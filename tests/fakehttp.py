"""A real HTTP peer on loopback that records requests and answers from a script, for tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from warroom.entry.jsonserver import JsonServer, Reply
from warroom.entry.jsonserver import Request as Recorded

__all__ = ["FakeHttp", "Recorded", "Reply"]

Route = Callable[[Recorded], Reply]


class FakeHttp:
    """Routes are `(METHOD, path) -> Reply | list[Reply] | callable`; a list is answered in turn
    (its last reply repeats). Unrouted requests get 404."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.routes: dict[tuple[str, str], Reply | list[Reply] | Route] = {}
        self._lock = threading.Lock()
        self._server = JsonServer(self._answer)

    @property
    def url(self) -> str:
        return self._server.url

    def _answer(self, rec: Recorded) -> Reply:
        with self._lock:
            self.requests.append(rec)
            route = self.routes.get((rec.method, rec.path))
            if route is None:
                return Reply(404, {"error": "no route"})
            if isinstance(route, Reply):
                return route
            if isinstance(route, list):
                return route.pop(0) if len(route) > 1 else route[0]
            return route(rec)

    def calls(self, method: str, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def __enter__(self) -> FakeHttp:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
