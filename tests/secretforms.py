"""For leak tests: awkward secret values, every encoded and transformed form of them, a loopback
echo server."""

from __future__ import annotations

import base64
import html
import json
import urllib.parse
from collections.abc import Iterable

import httpx

from warroom.entry.jsonserver import JsonServer, Reply, Request

#: Non-ASCII, quotes, backslash, space, `+/=` and `%`: every escaping scheme changes it.
URL_SECRET = "ü\"s\\k +/=%x'é✓-path-9f8e"
#: Header values must be ASCII; still quotes, backslash and `+/=`.
HEADER_SECRET = "hd+/=\"q\\'Zq=9f8e7d-tok"


def _transported(secret: str) -> set[str]:
    """How a transport carries it: raw, percent-encoded every way, httpx's URL, base64, hex."""
    forms = {secret, secret.encode().hex(), secret.encode().hex().upper()}
    for safe in ("", "/", ":/?=&", "/+="):
        forms.add(urllib.parse.quote(secret, safe=safe))
        forms.add(urllib.parse.quote_plus(secret, safe=safe))
        forms.add(urllib.parse.quote(urllib.parse.quote(secret, safe=safe), safe=""))
    try:
        url = httpx.URL("http://h/p/" + secret, params={"q": secret})
        forms |= {url.raw_path.decode().split("?")[0][3:], url.query.decode()[2:]}
    except httpx.InvalidURL:
        pass  # httpx refuses control characters in a URL: no form to look for
    for prefix in ("", "user:", "us:", "u:"):
        raw = base64.b64encode((prefix + secret).encode()).decode()
        forms |= {raw, raw.replace("+", "-").replace("/", "_"), urllib.parse.quote(raw, safe="")}
    return forms


def _serialized(text: str) -> set[str]:
    """How a serializer shows it: JSON (once, twice), repr, ascii, bytes repr, HTML."""
    forms = {text, html.escape(text), html.escape(text, quote=False)}
    forms |= {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    forms |= {json.dumps(json.dumps(text))[3:-3], json.dumps(repr(text))[2:-2]}
    forms |= {repr(text)[1:-1], ascii(text)[1:-1], repr(text.encode())[2:-1]}
    return forms


def encoded_forms(secret: str) -> set[str]:
    """The secret as templating, a transport and then a serializer can show it."""
    return {s for t in _transported(secret) for s in _serialized(t) if s}


#: From this length on, a half of a secret must not show on its own (redaction.MIN_SECRET_HALF).
MIN_HALF = 8


def halves(secret: str) -> set[str]:
    """The two halves of `secret`, cut at the middle or next to it (both, for an odd length);
    none when a half would be shorter than MIN_HALF."""
    if len(secret) // 2 < MIN_HALF:
        return set()
    cuts = {len(secret) // 2, (len(secret) + 1) // 2}
    return {part for cut in cuts for part in (secret[:cut], secret[cut:])}


def transformed_forms(secret: str) -> set[str]:
    """How an endpoint's error message may echo the secret besides encoding it: reversed or cut
    in halves, then serialized. (`leaks` ignores letter case, which covers upper and lower.)"""
    return {s for t in {secret[::-1], *halves(secret)} for s in _serialized(t) if s}


def leaks(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """Every (secret form, text excerpt) found, in any letter case; empty when nothing leaked."""
    found = []
    forms = {
        form.lower()
        for secret in secrets
        for form in encoded_forms(secret) | transformed_forms(secret)
    }
    for text in texts:
        lowered = text.lower()
        for form in forms:
            at = lowered.find(form)
            if at >= 0:
                excerpt = lowered[max(0, at - 40) : at + len(form) + 40]
                found.append(f"{form!r} in ...{excerpt!r}...")
    return found


class EchoServer:
    """Answers every request with `status` (500 for paths under /fail) and JSON echoing what
    arrived: the raw path as sent (percent-encoded), the headers, and the same again as a JSON
    string inside the JSON."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[Request] = []
        self._server = JsonServer(self._answer)

    @property
    def url(self) -> str:
        return self._server.url

    def _answer(self, request: Request) -> Reply:
        self.requests.append(request)
        echo = {"path": request.path, "headers": request.headers, "body": request.body}
        status = 500 if request.path.startswith("/fail") else self.status
        return Reply(status, {**echo, "raw": json.dumps(echo)})

    def __enter__(self) -> EchoServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
