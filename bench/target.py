"""The local HTTP target the benchmarks' steps and status updates call: it answers 200 and
records when each request under a path prefix arrived (wall clock, `time.time()`), by the rest
of its path (an incident or workflow id)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from warroom.entry.jsonserver import JsonServer, Reply, Request

#: A bound on waiting for one request, not a timing.
WAIT_S = 60.0


class Target:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self._arrived = threading.Condition()
        self.server = JsonServer(self._handle)

    def _handle(self, request: Request) -> Reply:
        if request.path.startswith(self.prefix):
            with self._arrived:
                self.arrivals[request.path.removeprefix(self.prefix)].append(time.time())
                self._arrived.notify_all()
        return Reply(200, {"ok": True})

    def count(self) -> int:
        with self._arrived:
            return sum(len(times) for times in self.arrivals.values())

    def first(self, key: str) -> float:
        """When the first request for `key` arrived, waiting for it (blocking)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: key in self.arrivals, timeout=WAIT_S):
                raise SystemExit(f"{key}: no request reached the target")
            return self.arrivals[key][0]
