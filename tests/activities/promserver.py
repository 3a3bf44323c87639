"""A real Prometheus (`/usr/bin/prometheus`) on a loopback port, scraping every second a tiny
target whose metric values the test sets."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import system_binary
from warroom.entry.devstack import free_port

METRIC = "warroom_test_error_rate"


class Target:
    """Serves `/metrics` in the Prometheus text format: one gauge series per `job` label."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        values = self.values

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                lines = [f"# TYPE {METRIC} gauge"]
                lines += [f'{METRIC}{{service="{k}"}} {v}' for k, v in sorted(values.items())]
                payload = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"


class Prometheus:
    def __init__(self, url: str, target: Target) -> None:
        self.url, self.target = url, target

    def query(self, promql: str) -> Any:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5).json()
        return answer["data"]["result"]

    def set(self, service: str, value: float, timeout: float = 60.0) -> None:
        """Set a series' value and wait until Prometheus has scraped it."""
        self.target.values[service] = value
        deadline = time.monotonic() + timeout
        promql = f'{METRIC}{{service="{service}"}}'
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                result = self.query(promql)
                if result and float(result[0]["value"][1]) == value:
                    return
            time.sleep(0.2)
        raise AssertionError(f"Prometheus did not scrape {promql} = {value} within {timeout}s")


@contextlib.contextmanager
def running_prometheus(tmp: Path) -> Iterator[Prometheus]:
    binary = system_binary("prometheus")
    target = Target()
    threading.Thread(target=target.server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: target, static_configs: [{{targets: ['{target.address}']}}]}}\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "prometheus.log").open("w"),
    )
    try:
        yield Prometheus(f"http://127.0.0.1:{port}", target)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        target.server.shutdown()
        target.server.server_close()
