"""Who a credential stands for: the bearer tokens file (`WARROOM_API_TOKENS`) maps each token
to an identity, and a token is compared with every known one in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import RootModel, StringConstraints, ValidationError

from warroom.contract.models import PersonName
from warroom.errors import WarroomError

TOKENS_ENV = "WARROOM_API_TOKENS"
#: Shortest token accepted: a guessable token is no authentication.
MIN_TOKEN_CHARS = 16

Token = Annotated[str, StringConstraints(min_length=MIN_TOKEN_CHARS, max_length=4096)]


class TokensFile(RootModel[dict[Token, PersonName]]):
    """`token: identity`, one per line."""


class Tokens:
    def __init__(self, identities: dict[str, str]) -> None:
        self._items = [(t.encode(), who) for t, who in identities.items()]

    def __bool__(self) -> bool:
        return bool(self._items)

    def identity(self, token: str) -> str | None:
        """Whose token this is; every token is compared, each in constant time."""
        given, found = token.encode(), None
        for known, who in self._items:
            if hmac.compare_digest(given, known):
                found = who
        return found

    def found_in(self, *texts: str) -> bool:
        """Whether any of `texts` holds a token (a name, a note pasted with one): such text
        is refused, so a token never becomes a name or enters an incident's history."""
        return any(known in text.encode() for text in texts for known, _ in self._items)

    def fingerprint(self) -> bytes:
        """A digest of every token and identity: a secret only holders of the file can derive
        (`warroom.access.sessions` keys console sessions with it)."""
        digest = hashlib.sha256(b"warroom tokens\0")
        for known, who in sorted(self._items):
            digest.update(known + b"\0" + who.encode() + b"\0")
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
        identities = TokensFile.model_validate(data).root
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][:1])  # never the token itself
        raise WarroomError(
            f"{TOKENS_ENV} {path}: write one `token: identity` per line, tokens at least "
            f"{MIN_TOKEN_CHARS} characters ({first['msg']}{' at an entry' if where else ''})"
        ) from None
    if not identities:
        raise WarroomError(
            f"{TOKENS_ENV} {path}: the file has no tokens: write one `token: identity` per line "
            "(or unset the variable to run without authentication, loopback only)"
        )
    return Tokens(identities)
