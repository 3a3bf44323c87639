"""Input that failed validation, said in one line (as the API and the console report it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: How many of pydantic's errors the line names (the rest are counted).
ERRORS_NAMED = 5


def one_line(errors: Iterable[Mapping[str, Any]]) -> str:
    """pydantic's errors as `where: what; ...`, the first few named and the rest counted."""
    errors = list(errors)
    parts = []
    for e in errors[:ERRORS_NAMED]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    more = f" (and {len(errors) - ERRORS_NAMED} more)" if len(errors) > ERRORS_NAMED else ""
    return "; ".join(parts) + more
