"""Only this server's own pages, and clients that are no browser, act on the API and the
console: the rules every request passes before any route sees it (one ASGI middleware).

- `Host` must name this server — a loopback name, the address it listens on, or a host of
  `WARROOM_PUBLIC_URL` — else 421: a page whose site name was made to resolve to this machine
  (DNS rebinding) reads nothing.
- A request that may change something (any method but GET, HEAD and OPTIONS) is refused (403)
  when the browser says it comes from another site or origin: `Sec-Fetch-Site` other than
  `same-origin` or `none`, or an `Origin` that is not this server's. Alertmanager, Grafana and
  curl send neither header, and pass. The one exception: under a path of `cross_origin` (the
  codec server's), a browser request from one of that path's origins (the Temporal UI's).
- Its body must be what the route reads, else 415: JSON (`Content-Type: application/json`)
  for the API, an urlencoded form (with its CSRF token) under `forms_under` (the console). A
  cross-site HTML form can send text/plain or a form without asking the server first, never
  JSON.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.api.errors import send_error_start
from warroom.errors import WarroomError

#: The URLs people and senders reach this server at, when not a loopback name or the address
#: it listens on (behind a proxy, a load balancer, a DNS name): comma-separated.
PUBLIC_URL_ENV = "WARROOM_PUBLIC_URL"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
#: Methods that change nothing: a browser may send them from anywhere (it cannot read the
#: answer of another origin), so only `Host` is checked.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: `Sec-Fetch-Site` values of a request this server's own page (or the person) made.
OWN_FETCH_SITES = frozenset({b"same-origin", b"none"})
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::(?P<port>\d{1,5}))?$")


def host_name(host: str) -> str | None:
    """The name in a Host header (`example.com:8080` → `example.com`, `[::1]:80` → `::1`), or
    None when it is no host at all."""
    found = _HOST.match(host.strip().lower())
    if found is None:
        return None
    return found["v6"] or found["name"].rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, as a browser writes it in `Origin` (no default port)."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if scheme not in ("http", "https") or not host or port == -1 or parts.username:
        raise WarroomError(
            f"{PUBLIC_URL_ENV}: {url.strip()!r} is not an http(s) URL such as "
            "https://warroom.example.com"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"


@dataclass(frozen=True)
class Served:
    """The names this server answers to, and the origins its own pages have beyond
    `http://<Host>`."""

    names: frozenset[str] = LOOPBACK_NAMES
    #: Listening on every address: any IP address (a probe's, a peer's) names this server.
    any_address: bool = False
    #: The origins of WARROOM_PUBLIC_URL (a proxy in front may answer https for us).
    origins: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def at(cls, host: str | None = None, public_urls: str | None = None) -> Served:
        """A server listening on `host` (None: loopback), reached also at `public_urls`
        (comma-separated)."""
        names = set(LOOPBACK_NAMES)
        any_address = host in ("0.0.0.0", "::", "")
        if host and not any_address:
            names.add(host.strip("[]").lower())
        origins = {origin_of(u) for u in (public_urls or "").split(",") if u.strip()}
        names |= {host_name(urlsplit(o).netloc) or "" for o in origins}
        return cls(frozenset(names), any_address, frozenset(origins))

    def serves(self, host: str) -> bool:
        """Whether a Host header names this server. Its port is not checked: port forwards
        and proxies change it, DNS rebinding needs a name, and the Origin check compares
        whole origins, ports included."""
        name = host_name(host)
        if name is None:
            return False
        if name in self.names or (self.any_address and _is_ip(name)):
            return True
        return _is_ip(name) and ipaddress.ip_address(name).is_loopback


def media_type(value: bytes | None) -> str:
    return (value or b"").split(b";", 1)[0].strip().decode("latin-1").lower()


def is_json(media: str) -> bool:
    return media == JSON_TYPE or (media.startswith("application/") and media.endswith("+json"))


class SameOrigin:
    """ASGI middleware: the module's rules, for every route of the app (API and console)."""

    def __init__(
        self,
        app: ASGIApp,
        served: Served | None = None,
        forms_under: tuple[str, ...] = (),
        cross_origin: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.app, self.served, self.forms_under = app, served or Served(), forms_under
        self.cross_origin = cross_origin or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        payload = await send_error_start(send, *refused)
        await send({"type": "http.response.body", "body": payload})

    def _let_through(self, path: str, origin: bytes) -> bool:
        given = origin.decode("latin-1").lower()
        return any(
            path.startswith(prefix) and given in origins
            for prefix, origins in self.cross_origin.items()
        )

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the request breaks a rule; None when it may go on."""
        headers: dict[bytes, bytes] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key, value)  # the first of a repeated header, as Starlette reads
        host = headers.get(b"host", b"").decode("latin-1")
        if host and not self.served.serves(host):
            return 421, (
                f"this server does not answer to the name {host_name(host) or host!r}: use "
                f"127.0.0.1, or add the URL you reach it at to {PUBLIC_URL_ENV}"
            )
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get(b"origin")
        site = headers.get(b"sec-fetch-site")
        if origin is not None and self._let_through(scope["path"], origin):
            site = origin = None  # a page of an origin this path serves cross-origin
        if site is not None and site.lower() not in OWN_FETCH_SITES:
            return 403, (
                f"cross-site request refused (Sec-Fetch-Site: {site.decode('latin-1')}): "
                "only this server's own pages, or clients that are no browser, may change things"
            )
        if origin is not None:
            given = origin.decode("latin-1").lower()
            own = {f"{scope['scheme']}://{host.lower()}", *self.served.origins}
            if given not in own:
                return 403, (
                    f"cross-origin request refused (Origin: {given}): only this server's own "
                    f"pages may change things (a proxy in front: set {PUBLIC_URL_ENV})"
                )
        has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
        if not has_body:
            return None
        media = media_type(headers.get(b"content-type"))
        if scope["path"].startswith(self.forms_under):
            if media != FORM_TYPE:
                return 415, f"send this form as {FORM_TYPE}, not {media or 'untyped'}"
        elif not is_json(media):
            return 415, (
                f"send JSON with Content-Type: {JSON_TYPE} (not {media or 'untyped'}); "
                "with curl: --json @body.json"
            )
        return None
