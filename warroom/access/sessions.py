"""Console sessions: a signed value saying who signed in (never the credential they signed in
with), and the CSRF token of each session, derived from it with the server's key.

The key derives from the API tokens (`Tokens.fingerprint`): every API process with the same
tokens file reads the same sessions, and changing the tokens ends them all. Without tokens it
is random, per process. The cookie's name derives from the key as well, so servers on other
ports of the same host (browsers send cookies to every port) each keep their own cookie, and
none can read or plant another's session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from warroom.access.tokens import Tokens

#: How long a session lasts from sign-in (an on-call shift and then some).
SESSION_SECONDS = 12 * 3600
COOKIE_PREFIX = "warroom_session_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    #: Random, new at every sign-in (and for a visitor who has not signed in yet).
    id: str
    #: Who signed in; None before sign-in.
    identity: str | None
    #: When it was issued (Unix seconds).
    issued: int


class Sessions:
    """Issues and reads the signed session values of one server (or of every process that
    shares its tokens)."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key, self._clock = key, clock
        self.cookie_name = COOKIE_PREFIX + self._mac(b"cookie name").hex()[:12]

    @classmethod
    def for_tokens(cls, tokens: Tokens) -> Sessions:
        if tokens:
            return cls(hmac.digest(tokens.fingerprint(), b"warroom console sessions", "sha256"))
        return cls(secrets.token_bytes(32))

    def _mac(self, *parts: bytes) -> bytes:
        return hmac.digest(self._key, b"\0".join(parts), hashlib.sha256)

    def new(self, identity: str | None = None) -> tuple[Session, str]:
        """A new session, and the cookie value that carries it."""
        session = Session(secrets.token_urlsafe(18), identity, int(self._clock()))
        payload = json.dumps([session.id, session.identity, session.issued]).encode()
        return session, f"{_b64(payload)}.{_b64(self._mac(b'session', payload))}"

    def read(self, value: str) -> Session | None:
        """The session a cookie value carries; None unless this server signed it, and lately."""
        body, _, signature = value.partition(".")
        try:
            payload, mac = _unb64(body), _unb64(signature)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(b"session", payload)):
            return None
        sid, identity, issued = json.loads(payload)
        if not 0 <= self._clock() - issued <= SESSION_SECONDS:
            return None
        return Session(sid, identity, issued)

    def csrf(self, session: Session) -> str:
        """The CSRF token of the session's forms: only this server can derive it, so a token
        planted by anyone else matches no session."""
        return _b64(self._mac(b"csrf", session.id.encode()))

    def csrf_matches(self, session: Session, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.csrf(session).encode())
