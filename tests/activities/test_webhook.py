"""webhook.post's HMAC signature, verified by a receiver over the raw bytes it read, as a real
receiver does."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from activities.webhook import webhook_post
from tests.activities.actions import run

SECRET = "whsec-5e1f0a-SECRET"


class RawReceiver:
    """Records each POST's headers and exact body bytes; answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[RawReceiver]:
    rec = RawReceiver()
    thread = threading.Thread(target=rec.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


async def test_signature_is_hmac_sha256_of_the_exact_body(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_SECRET_HOOK_KEY", SECRET)
    text = 'Rolled back — "checkout" ✓'  # non-ASCII and quotes: the bytes must match exactly
    result = await run(
        webhook_post,
        {"url": receiver.url, "text": text, "hmac_secret": "{{ secret.HOOK_KEY }}"},
    )
    assert result.status == 200
    ((headers, body),) = receiver.received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Warroom-Signature"] == f"sha256={expected}"
    assert json.loads(body) == {"text": text}
    assert SECRET not in result.model_dump_json()


async def test_no_secret_no_signature(receiver: RawReceiver):
    await run(webhook_post, {"url": receiver.url, "text": "hi"})
    ((headers, _),) = receiver.received
    assert "X-Warroom-Signature" not in headers
