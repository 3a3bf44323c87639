"""Who a credential stands for: the bearer tokens file (`WARROOM_API_TOKENS`) maps each token
to an identity and its role (or scope), and a token is compared with every known one in
constant time.

```yaml
dana-token-0123456789abcdef: dana-oncall                 # a responder (the first form)
grafana-token-0123456789abcd: {identity: grafana, role: viewer}
am-token-0123456789abcdef: {identity: alertmanager, scope: alerts}
```
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    RootModel,
    StringConstraints,
    ValidationError,
    model_validator,
)

from warroom.access.roles import Principal, Role, Scope
from warroom.contract.models import PersonName
from warroom.errors import WarroomError

TOKENS_ENV = "WARROOM_API_TOKENS"
#: Shortest token accepted: a guessable token is no authentication.
MIN_TOKEN_CHARS = 16

Token = Annotated[str, StringConstraints(min_length=MIN_TOKEN_CHARS, max_length=4096)]


class Holder(BaseModel):
    """`{identity: NAME, role: viewer|responder|admin}` or `{identity: NAME, scope: alerts}`."""

    model_config = ConfigDict(extra="forbid")
    identity: PersonName
    role: Literal["viewer", "responder", "admin"] | None = None
    scope: Scope | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Holder:
        if self.role is not None and self.scope is not None:
            raise ValueError("give a role or a scope, not both")
        return self


class TokensFile(RootModel[dict[Token, PersonName | Holder]]):
    """`token: identity` (a responder) or `token: {identity: NAME, role: ROLE}`, one per line."""


def _principal(
    identity: str, role: Role | None = Role.responder, scope: Scope | None = None
) -> Principal:
    return Principal(identity, role, f"token:{identity}", scope)


class Tokens:
    def __init__(self, holders: Mapping[str, str | Principal]) -> None:
        self._items = [
            (t.encode(), h if isinstance(h, Principal) else _principal(h))
            for t, h in holders.items()
        ]

    def __bool__(self) -> bool:
        return bool(self._items)

    def principal(self, token: str) -> Principal | None:
        """Whose token this is, and what it may do; every token is compared, each in
        constant time."""
        given, found = token.encode(), None
        for known, holder in self._items:
            if hmac.compare_digest(given, known):
                found = holder
        return found

    def identity(self, token: str) -> str | None:
        """Whose token this is."""
        found = self.principal(token)
        return found.identity if found is not None else None

    def found_in(self, *texts: str) -> bool:
        """Whether any of `texts` holds a token (a name, a note pasted with one): such text
        is refused, so a token never becomes a name or enters an incident's history."""
        return any(known in text.encode() for text in texts for known, _ in self._items)

    def fingerprint(self) -> bytes:
        """A digest of every token and identity: a secret only holders of the file can derive
        (`warroom.access.sessions` keys console sessions with it)."""
        digest = hashlib.sha256(b"warroom tokens\0")
        for known, holder in sorted(self._items, key=lambda item: item[0]):
            digest.update(known + b"\0" + holder.identity.encode() + b"\0")
            if holder.role != Role.responder or holder.scope is not None:
                digest.update(f"{holder.role}/{holder.scope}\0".encode())
        return digest.digest()


def load_tokens(path: str | None = None) -> Tokens:
    """The tokens of `path` or $WARROOM_API_TOKENS; none when neither is set. A file that is
    named but holds no token is an error: it must never turn authentication off."""
    if path is None:
        path = os.environ.get(TOKENS_ENV)
        if path is None:
            return Tokens({})
    if not path.strip():
        raise WarroomError(
            f"{TOKENS_ENV} is set but empty: name a file of `token: identity` lines, or unset "
            "it to run without authentication (loopback only)"
        )
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise WarroomError(f"{TOKENS_ENV} {path}: cannot read it ({exc})") from None
    if data is None:  # an empty file
        data = {}
    try:
        entries = TokensFile.model_validate(data).root
    except ValidationError as exc:
        raise WarroomError(
            f"{TOKENS_ENV} {path}: write one `token: identity` or `token: {{identity: NAME, "
            f"role: viewer|responder|admin}}` or `token: {{identity: NAME, scope: alerts}}` per "
            f"line, tokens at least {MIN_TOKEN_CHARS} characters ({_reason(exc.errors())})"
        ) from None
    if not entries:
        raise WarroomError(
            f"{TOKENS_ENV} {path}: the file has no tokens: write one `token: identity` per line "
            "(or unset the variable to run without authentication, loopback only)"
        )
    return Tokens({t: _holder(entry) for t, entry in entries.items()})


def _holder(entry: str | Holder) -> str | Principal:
    if isinstance(entry, str):
        return entry
    if entry.scope is not None:
        return _principal(entry.identity, None, entry.scope)
    return _principal(entry.identity, Role[entry.role or "responder"])


def _reason(errors: list[Any]) -> str:
    """pydantic's message and field, never the input nor the key (either may be a token);
    for an entry written as a mapping, what is wrong in the mapping."""
    mapped = [e for e in errors if len(e["loc"]) > 1 and "Holder" in str(e["loc"][1])]
    first = mapped[0] if mapped else errors[0]
    field = ".".join(str(p) for p in first["loc"][2:]) if mapped else ""
    return f"{first['msg']} at an entry" + (f", field {field!r}" if field else "")
