"""Secret values and every encoded form of them: what a template handed out, and how to scrub it.

A secret can come back from a transport or a serializer in many shapes: percent-encoded (any
`safe` set, `quote_plus`, double-encoded), JSON- or repr-escaped (once or nested), as HTML
entities, base64 (HTTP Basic auth) or hex (`bytes.hex()`, digests' notation). Scrubbing matches all of them with one pattern per value
in which every character may appear in any of its encodings, so mixed forms (httpx encodes
only some characters of a path) match too.

An endpoint's error message may also echo a secret transformed: upper- or lower-cased ("invalid
key ABCD..."), cut in two ("key starting with ... ending with ..."), or reversed. The pattern
ignores case, and also matches the value reversed and each half of it (halves of at least
MIN_SECRET_HALF characters). Other transformations (base32, rot13, any cipher an endpoint
chooses) are not recognised: scrubbing is a net for echoes, not a defence against an endpoint
that means to smuggle a secret out.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from warroom.errors import SecretMissing

SECRET_ENV_PREFIX = "WARROOM_SECRET_"
MASK = "***"

#: Base64 fragments shorter than this are too likely to occur by chance to be scrubbed.
MIN_BASE64_FRAGMENT = 8
#: A secret's halves are scrubbed on their own when each is at least this long (a secret of
#: 16 characters or more): a shorter half is too likely to be an ordinary word.
MIN_SECRET_HALF = 8

_NAMED_ENTITIES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "(?:apos|#39)"}
_SHORT_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f", "\v": "v", "\a": "a"}
# One or more backslashes: an escape may itself have been escaped by an outer serializer.
_BS = r"\\+"


def _hex(number: int, width: int) -> str:
    """`number` as exactly `width` hex digits, matching either case."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{number:0{width}x}")


def _char_forms(char: str) -> list[str]:
    """Regex alternatives for one character in every encoding a transport or serializer uses."""
    code = ord(char)
    utf8 = char.encode("utf-8")
    forms = [
        re.escape(char),
        # percent-encoding of each UTF-8 byte, possibly double-encoded (%25 for the %)
        "".join(f"%(?:25)*{_hex(b, 2)}" for b in utf8),
        # repr of bytes: b'\xc3\xa9'
        "".join(f"{_BS}x{_hex(b, 2)}" for b in utf8),
        # HTML numeric character references
        f"&#0*{code};",
        f"&#[xX]0*{_hex(code, len(f'{code:x}'))};",
    ]
    if char == " ":
        forms.append(r"\+")  # quote_plus, form encoding
    if char in "\"'\\/":
        forms.append(_BS + re.escape(char))
    if char in _SHORT_ESCAPES:
        forms.append(_BS + _SHORT_ESCAPES[char])
    if char in _NAMED_ENTITIES:
        forms.append(f"&{_NAMED_ENTITIES[char]};")
    if code < 0x100:
        forms.append(f"{_BS}x{_hex(code, 2)}")
    if code < 0x10000:
        forms.append(f"{_BS}u{_hex(code, 4)}")
    else:
        high, low = divmod(code - 0x10000, 0x400)
        forms.append(f"{_BS}u{_hex(0xD800 + high, 4)}{_BS}u{_hex(0xDC00 + low, 4)}")
        forms.append(f"{_BS}U{_hex(code, 8)}")
    return forms


def _any_encoding(text: str) -> str:
    # Every form starts with the character itself or with one of `%\\&+`: that lookahead lets
    # the engine skip most positions with one cheap test (scrubbing 1 MiB gets ~3x faster).
    starts = re.escape(text[0]) + re.escape("%\\&+")
    return f"(?=[{starts}])" + "".join("(?:" + "|".join(_char_forms(c)) + ")" for c in text)


def _base64_fragments(value: str) -> set[str]:
    """The part of base64(prefix + value + suffix) that depends on `value` alone, for each of the
    three alignments, in both alphabets: how `user:secret` in a Basic auth header shows."""
    raw = value.encode("utf-8")
    fragments = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode().rstrip("=")
        # Leading characters carry bits of the unknown prefix, a trailing partial one of the
        # unknown suffix.
        start = {0: 0, 1: 2, 2: 3}[shift]
        end = len(encoded) - (1 if (shift + len(raw)) % 3 else 0)
        core = encoded[start:end]
        if len(core) >= MIN_BASE64_FRAGMENT:
            fragments.add(core)
            fragments.add(core.translate(str.maketrans("+/", "-_")))
    return fragments


def _transformed(value: str) -> list[str]:
    """What an endpoint's message may make of `value` besides encoding it: reversed, and its
    first and last halves (each MIN_SECRET_HALF characters or more), longest first. For an odd
    length both halves are the shorter one, so a cut on either side of the middle character
    leaves at most that character unscrubbed."""
    half = len(value) // 2
    parts = [value[::-1]] if len(value) > 1 else []
    if half >= MIN_SECRET_HALF:
        parts += [value[:half], value[-half:]]
    return [p for p in parts if p != value]


@lru_cache(maxsize=256)
def secret_pattern(value: str) -> re.Pattern[str]:
    """A pattern matching, in any letter case: `value` in any encoding, its UTF-8 bytes in hex,
    base64 fragments of it in any encoding, and `value` reversed or either half of it in any
    encoding. The whole value comes first, so where it matches it is masked as one."""
    texts = [value, *sorted(_base64_fragments(value), key=len, reverse=True), *_transformed(value)]
    hex_form = "".join(_hex(b, 2) for b in value.encode("utf-8"))
    alternatives = [_any_encoding(texts[0]), hex_form, *(_any_encoding(t) for t in texts[1:])]
    # One lookahead for the first character any alternative can start with: without it, every
    # alternative is tried at every position (the transformed forms doubled the cost).
    firsts = {t[0] for t in texts} | {f"{value.encode('utf-8')[0]:02x}"[0], *"%\\&+"}
    starts = "".join(re.escape(c) for c in sorted(firsts))
    return re.compile(f"(?=[{starts}])(?:{'|'.join(alternatives)})", re.IGNORECASE)


class Secrets:
    """Reads WARROOM_SECRET_<NAME> on first use and remembers what it handed out, plus every
    value a template derived from one (`track`), so both can be scrubbed. Templates see it only
    through a `SecretLookup`."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.used: list[str] = []
        self.derived: list[str] = []

    def resolve(self, name: str) -> str:
        value = self._environ.get(SECRET_ENV_PREFIX + name)
        if value is None:
            raise SecretMissing(name)
        if value not in self.used:
            self.used.append(value)
        return value

    @property
    def values(self) -> list[str]:
        """Everything to scrub, longest first so a longer value is not cut by a shorter one."""
        return sorted({v for v in self.used + self.derived if v}, key=len, reverse=True)

    def carries_secret(self, text: str) -> bool:
        """Whether `text` contains a secret or a value derived from one."""
        return any(v in text for v in self.values)

    def found_in(self, text: str) -> bool:
        """Whether `text` holds any form `scrub` would mask of any secret or derived value."""
        return any(secret_pattern(value).search(text) for value in self.values)

    def track(self, source: str, output: str) -> None:
        """Remember `output` as secret when it was computed from text carrying a secret."""
        if output and output not in self.derived and self.carries_secret(source):
            self.derived.append(output)

    def scrub(self, text: str) -> str:
        """Replace every secret and derived value, in any encoding, with ***."""
        for value in self.values:
            text = secret_pattern(value).sub(MASK, text)
        return text

    def scrub_prefix(self, text: str, length: int) -> str:
        """`scrub` as much of `text` as its first `length` characters after scrubbing need,
        without scrubbing all of a long text; the result may run past `length`."""
        values = self.values
        # Longer than any encoded form of any value (a character takes at most ~36).
        margin = 40 * max((len(v) for v in values), default=0) + 64
        if len(text) <= length + 2 * margin:
            return self.scrub(text)
        head = self.scrub(text[: length + 2 * margin])
        # The last `margin` characters may hold a form cut at the edge, which did not match.
        return head[: len(head) - margin]

    def scrub_data(self, data: Any) -> Any:
        """`scrub` every string (keys included) inside JSON-like data."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, dict):
            return {self.scrub_data(k): self.scrub_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub_data(v) for v in data]
        return data


class SecretLookup:
    """What templates see as `secret`: `secret.NAME` and `secret['NAME']`, nothing else (no
    attribute of the registry, such as the values handed out so far, is reachable)."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._secrets.resolve(name)

    __getitem__ = __getattr__


def registry(lookup: SecretLookup) -> Secrets:
    """The registry behind a template's `secret`."""
    return lookup._secrets
