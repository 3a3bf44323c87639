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
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from warroom.access.roles import Principal, Role
from warroom.access.tokens import Tokens
from warroom.errors import WarroomError

#: How long a session lasts from sign-in (an on-call shift and then some), unless
#: `WARROOM_SESSION_HOURS` says otherwise (whole hours, 1 to 720: a month).
SESSION_SECONDS = 12 * 3600
HOURS_ENV = "WARROOM_SESSION_HOURS"
MAX_HOURS = 720
COOKIE_PREFIX = "warroom_session_"


def session_seconds(env: Mapping[str, str] | None = None) -> int:
    """How long a console session lasts: `WARROOM_SESSION_HOURS` (default 12) in seconds; any
    value that is not a whole number of hours from 1 to 720 is refused."""
    raw = (os.environ if env is None else env).get(HOURS_ENV, "").strip()
    if not raw:
        return SESSION_SECONDS
    if not re.fullmatch(r"[0-9]+", raw) or not 1 <= int(raw) <= MAX_HOURS:
        raise WarroomError(
            f"{HOURS_ENV}={raw!r}: write a whole number of hours from 1 to {MAX_HOURS}, "
            f"e.g. {HOURS_ENV}=12 (the default)"
        )
    return int(raw) * 3600


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
    #: The role's name (`viewer`, `responder`, `admin`); None before sign-in.
    role: str | None = None
    #: How the person signed in (`oidc`, `token:<identity>`, `session`); None before sign-in.
    via: str | None = None

    def principal(self) -> Principal | None:
        """Who signed in, their role and how; None before sign-in."""
        if self.identity is None:
            return None
        return Principal(
            self.identity, Role.__members__.get(self.role or ""), self.via or "session"
        )


class Sessions:
    """Issues and reads the signed session values of one server (or of every process that
    shares its tokens)."""

    def __init__(
        self, key: bytes, clock: Callable[[], float] = time.time, lifetime: int = SESSION_SECONDS
    ) -> None:
        self._key, self._clock, self.lifetime = key, clock, lifetime
        self.cookie_name = COOKIE_PREFIX + self._mac(b"cookie name").hex()[:12]

    @classmethod
    def for_tokens(
        cls, tokens: Tokens, secret: str = "", lifetime: int = SESSION_SECONDS
    ) -> Sessions:
        """Keyed by the tokens and `secret` (the OIDC client secret, when there is one)."""
        if tokens or secret:
            seed = tokens.fingerprint() + secret.encode()
            return cls(hmac.digest(seed, b"warroom console sessions", "sha256"), lifetime=lifetime)
        return cls(secrets.token_bytes(32), lifetime=lifetime)

    def _mac(self, *parts: bytes) -> bytes:
        return hmac.digest(self._key, b"\0".join(parts), hashlib.sha256)

    def new(
        self, identity: str | None = None, role: str | None = None, via: str | None = None
    ) -> tuple[Session, str]:
        """A new session, and the cookie value that carries it."""
        session = Session(secrets.token_urlsafe(18), identity, int(self._clock()), role, via)
        fields = [session.id, session.identity, session.issued, session.role, session.via]
        return session, self.seal("session", fields)

    def read(self, value: str) -> Session | None:
        """The session a cookie value carries; None unless this server signed it, and lately.
        A session signed before roles were (three fields) was a responder's."""
        fields = self.unseal("session", value, self.lifetime)
        if not isinstance(fields, list) or len(fields) not in (3, 5):
            return None
        if len(fields) == 3:
            fields += ["responder" if fields[1] is not None else None, None]
        return Session(*fields)

    def seal(self, kind: str, data: Any) -> str:
        """`data` (JSON) signed for `kind`, with the time: only `unseal` of this key reads it."""
        if kind != "session":  # the session's own layout predates this: kept as it was
            data = [int(self._clock()), data]
        payload = json.dumps(data).encode()
        return f"{_b64(payload)}.{_b64(self._mac(kind.encode(), payload))}"

    def unseal(self, kind: str, value: str, max_age: int) -> Any:
        """What `seal(kind, …)` sealed, if this key sealed it less than `max_age` s ago; else None."""
        body, _, signature = value.partition(".")
        try:
            payload, mac = _unb64(body), _unb64(signature)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(kind.encode(), payload)):
            return None
        data = json.loads(payload)
        issued, inner = (data[2], data) if kind == "session" else (data[0], data[1])
        if not 0 <= self._clock() - issued <= max_age:
            return None
        return inner

    def csrf(self, session: Session) -> str:
        """The CSRF token of the session's forms: only this server can derive it, so a token
        planted by anyone else matches no session."""
        return _b64(self._mac(b"csrf", session.id.encode()))

    def csrf_matches(self, session: Session, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.csrf(session).encode())
