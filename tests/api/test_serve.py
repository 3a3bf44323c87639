"""`warroom serve`: loopback only without tokens (and says so), any address with them, a clean
stop on SIGTERM or Ctrl-C; runbooks and tokens problems are one line."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.cli.test_cli import warroom
from warroom.api.server import listen
from warroom.entry.devstack import free_port

EXE = str(Path(sys.executable).parent / "warroom")


def start_serve(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [EXE, "serve", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("ready."):
            return proc, lines
    proc.kill()
    raise AssertionError("warroom serve did not get ready:\n" + "".join(lines))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_without_tokens_listens_on_loopback_says_so_and_stops_cleanly(stop):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_API_TOKENS"}
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"  # nobody there: /readyz says so
    proc, lines = start_serve("--port", str(port), env=env)
    try:
        out = "".join(lines)
        assert f"API:          http://127.0.0.1:{port} (" in out
        assert "API auth:     none (no $WARROOM_API_TOKENS): listening on loopback only" in out
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        alert = {"title": "x", "dedup_key": "k"}
        down = httpx.post(f"http://127.0.0.1:{port}/v1/alerts", json=alert, timeout=30)
        assert down.status_code == 503 and "Temporal" in down.json()["error"]
    finally:
        proc.send_signal(stop)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert rest.strip().endswith("stopping …")


def test_serve_refuses_a_public_address_without_tokens():
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_API_TOKENS"}
    done = warroom("serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env)
    assert done.returncode == 1
    assert done.stderr == (
        "error: refusing to listen on 0.0.0.0 without authentication: set WARROOM_API_TOKENS "
        "to a file of `token: identity` lines, or listen on 127.0.0.1\n"
    )


def test_serve_with_tokens_listens_where_told_and_needs_them(tmp_path):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("prometheus-scraper-0123456789: scraper\n")
    port = free_port()
    env = {**os.environ, "WARROOM_API_TOKENS": str(tokens)}
    proc, lines = start_serve("--host", "0.0.0.0", "--port", str(port), env=env)
    try:
        assert "API auth:     bearer tokens from $WARROOM_API_TOKENS" in "".join(lines)
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url).status_code == 401
        auth = {"Authorization": "Bearer prometheus-scraper-0123456789"}
        assert "warroom_alert_notifications" in httpx.get(url, headers=auth).text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("short: alice\n", "tokens at least 16 characters"),
        ("- a list\n", "write one `token: identity` or `token: {identity: NAME, role:"),
        (
            'a-long-enough-token-123: "al\\nice"\n',
            "write one `token: identity` or `token: {identity: NAME, role:",
        ),
        ("{unclosed\n", "cannot read it"),
        ("{}\n", "the file has no tokens"),
    ],
)
def test_a_broken_tokens_file_is_one_line_that_never_shows_a_token(tmp_path, content, message):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(content)
    env = {**os.environ, "WARROOM_API_TOKENS": str(tokens)}
    done = warroom("serve", "--port", str(free_port()), env=env)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: WARROOM_API_TOKENS {tokens}: ")
    assert message in done.stderr and len(done.stderr.splitlines()) == 1
    assert "a-long-enough-token-123" not in done.stderr and "short" not in done.stderr


async def test_the_api_socket_answers_without_waiting_on_nagle():
    """The listening socket names TCP, so asyncio sets TCP_NODELAY on each connection: else a
    response written in two parts waits on the client's delayed ACK (~40 ms a request)."""
    nodelay: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    port = free_port()
    server = await asyncio.start_server(accepted, sock=listen("127.0.0.1", port))
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the server checked, closed
        writer.close()
    assert nodelay and nodelay[0] != 0
