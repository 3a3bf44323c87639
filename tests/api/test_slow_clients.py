"""A client cannot hold a connection by lying or dawdling (raw sockets against the real
server): a Content-Length over the limit is answered 413 before any body is read; headers and
bodies that have not arrived within the read deadline are answered 408 and the connection is
closed. Temporal is never asked."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
from collections.abc import AsyncIterator

import pytest

from warroom.api.app import Temporal
from warroom.api.server import running
from warroom.entry.devstack import free_port
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue

#: The deadline of these tests' server (the default is a few seconds).
DEADLINE = 0.5
#: How long a dawdling client of these tests would go on: far past the deadline.
DAWDLE_STEPS, DAWDLE_EVERY = 100, 0.1
#: A guard for a socket read that should be answered at once (only a broken server waits).
GUARD = 20.0


@contextlib.asynccontextmanager
async def server(**kw: float) -> AsyncIterator[int]:
    port = free_port()
    app = web_app(Catalogue.load(), Temporal(address="127.0.0.1:1"), **kw)
    timeout = {"read_timeout": kw["read_timeout"]} if "read_timeout" in kw else {}
    async with running(app, "127.0.0.1", port, **timeout):
        yield port


@pytest.fixture
async def deadline_server() -> AsyncIterator[int]:
    async with server(read_timeout=DEADLINE) as port:
        yield port


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD)
    return sock


def head(port: int, path: str = "/v1/alerts", **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def dawdle(sock: socket.socket, data: bytes) -> tuple[int, bytes]:
    """Send `data` a byte at a time, DAWDLE_EVERY apart, until the server answers (or closes);
    returns how many bytes went out, and the answer."""
    for sent, byte in enumerate(data[:DAWDLE_STEPS]):
        readable, _, _ = select.select([sock], [], [], DAWDLE_EVERY)
        if readable:
            return sent, read_all(sock)
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return sent, b""
    return DAWDLE_STEPS, b""


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (its body ends with `}`), without waiting for the connection to close."""
    data = b""
    while not data.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


async def test_a_content_length_over_the_limit_is_refused_at_once_without_reading_the_body():
    # A deadline far past the socket's GUARD: the answer must not wait for either.
    async with server(read_timeout=GUARD * 3) as port:

        def lie() -> bytes:
            with connect(port) as sock:
                sock.sendall(
                    head(port, Content_Type="application/json", Content_Length="99999999999")
                    + b"{}"
                )
                return read_answer(sock)

        answer = await asyncio.to_thread(lie)
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert answer.endswith(b'{"error": "request body over the limit of 1,048,576 bytes"}')


async def test_headers_that_do_not_arrive_in_time_get_408_and_the_connection_closes(
    deadline_server,
):
    def slow_headers() -> tuple[int, bytes]:
        with connect(deadline_server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            return dawdle(sock, b"X-Slow: " + b"x" * 200)

    sent, answer = await asyncio.to_thread(slow_headers)
    assert sent < DAWDLE_STEPS, "the server waited for the whole dawdle"
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b"the request headers did not arrive within 0.5s" in answer


async def test_a_connection_that_sends_nothing_is_closed(deadline_server):
    def silent() -> bytes:
        with connect(deadline_server) as sock:
            return read_all(sock)

    assert await asyncio.to_thread(silent) == b""


async def test_a_body_that_does_not_arrive_in_time_gets_408(deadline_server):
    def slow_body() -> tuple[int, bytes]:
        with connect(deadline_server) as sock:
            sock.sendall(
                head(deadline_server, Content_Type="application/json", Content_Length="300")
            )
            return dawdle(sock, b'{"title": "' + b"x" * 280 + b'"}')

    sent, answer = await asyncio.to_thread(slow_body)
    assert sent < DAWDLE_STEPS, "the server waited for the whole dawdle"
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert answer.endswith(b'{"error": "the request body did not arrive within 0.5s"}')


async def test_the_next_request_on_a_kept_alive_connection_has_its_own_deadline(
    deadline_server,
):
    def second_request_slow() -> tuple[bytes, int, bytes]:
        with connect(deadline_server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = read_answer(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            sent, answer = dawdle(sock, b"X-Slow: " + b"x" * 200)
            return first, sent, answer

    first, sent, answer = await asyncio.to_thread(second_request_slow)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b'{"status":"ok"}')
    assert sent < DAWDLE_STEPS and answer.startswith(b"HTTP/1.1 408 "), answer
