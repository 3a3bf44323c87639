"""Run the API with uvicorn inside warroom's own event loop (`warroom serve`, `warroom dev`),
with a deadline for each request's headers (uvicorn has none)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from warroom.api.limits import READ_TIMEOUT
from warroom.errors import WarroomError


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # warroom.entry.stopping owns SIGINT/SIGTERM: one Ctrl-C stops the API and the worker together.
        yield


class HeadDeadline(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's head: a client that has
    not sent the request line and headers `read_timeout` seconds after it connected (or began
    the request, on a kept-alive connection) gets 408 and the connection is closed (without
    an answer when it sent nothing). uvicorn
    itself waits forever, so slow clients could hold every connection; the body's deadline is
    `warroom.api.limits.BodyLimit`'s, and idle kept-alive connections close on uvicorn's own
    `timeout_keep_alive`."""

    read_timeout = READ_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None
    #: Whether the request being waited for has begun (a connection that never sent a byte
    #: is closed without an answer: browsers open spare connections ahead of time).
    _begun = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if self._head_timer is None:
            self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        self._begun = False
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.read_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._begun:
            self.transport.close()
            return
        reason = f"the request headers did not arrive within {self.read_timeout:g}s"
        body = json.dumps({"error": reason}).encode()
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port is one clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # a response written in two parts (head, body) waits ~40 ms on the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WarroomError(
            f"cannot listen on {host}:{port} ({exc.strerror}): pick another port with --port / --api-port"
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def running(
    app: FastAPI, host: str, port: int, read_timeout: float = READ_TIMEOUT
) -> AsyncIterator[str]:
    """Serve `app` on host:port until the block ends (in-flight requests finish first);
    a request's headers must arrive within `read_timeout` seconds."""
    sock = listen(host, port)
    protocol = type("HeadDeadline", (HeadDeadline,), {"read_timeout": read_timeout})
    config = uvicorn.Config(
        app, http=protocol, log_level="warning", access_log=False, lifespan="off"
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise WarroomError(f"the API did not start on {host}:{port}")
            await asyncio.sleep(0.02)
        yield url_of(host, port)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
