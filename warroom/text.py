"""Text on its way to a terminal: control characters escaped, runaway lengths clipped.

Incident text comes from people and from remote peers (`--by`, `--summary`, error bodies);
written raw, an ESC or OSC sequence repaints or retitles the reader's terminal and a
newline forges whole output rows. Everything human-facing goes through `escape`.
"""

from __future__ import annotations

import re

# C0, DEL and C1 controls; lone surrogates (undecodable argv bytes, which cannot even be
# encoded for output); line/paragraph separators; bidi overrides, which reorder what the
# reader sees ("Trojan Source").
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    return _SHORT.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape(text: object) -> str:
    """`text` as one printable line: `\\x1b`, `\\n`, `\\u202e` instead of the characters."""
    return _UNSAFE.sub(_escaped, str(text))


def clip(text: str, limit: int = 400) -> str:
    """At most about `limit` characters: head and tail kept, the middle elided with a count."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}…[{len(text) - 2 * keep} more characters]…{text[-keep:]}"
