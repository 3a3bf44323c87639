"""A small JSON-over-HTTP server on loopback, for the demo's checkout service, test peers and
benchmarks: a Starlette app that hands every request to one plain function, served by uvicorn
in a background thread so that synchronous callers (a `with` block, a test) can use it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route

from warroom.api.server import listen

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class Headers(dict[str, str]):
    """Request headers by lower-case name, looked up in any case (`headers["Authorization"]`)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)


@dataclass
class Request:
    method: str
    #: The path as sent (still percent-encoded), with its query string.
    path: str
    headers: Headers
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


def json_app(handle: Handler) -> Starlette:
    """Every request, whatever its path and method, answered by `handle` (in a worker thread,
    so a slow answer does not hold up the others)."""

    async def endpoint(request: StarletteRequest) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        if query := request.scope.get("query_string", b""):
            path = f"{path}?{query.decode('latin-1')}"
        headers = Headers((k.lower(), v) for k, v in request.headers.items())
        reply = await run_in_threadpool(handle, Request(request.method, path, headers, body))
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        return Response(
            payload,
            reply.status,
            headers={"content-type": "application/json", **reply.headers},
        )

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])


class JsonServer:
    """Serves `handle(request) -> Reply` on 127.0.0.1 (a free port unless `port` is given)
    until `stop`."""

    def __init__(self, handle: Handler, port: int = 0) -> None:
        # Bound now, so `url` is known before `start` (and with TCP_NODELAY, as the API's).
        self._socket = listen("127.0.0.1", port)
        config = uvicorn.Config(
            json_app(handle), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the JSON server did not start (is the port taken?)")
            threading.Event().wait(0.005)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join()
        self._socket.close()
