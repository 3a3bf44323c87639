"""The one small condition language of waits: `[path] OP literal`, e.g. `json.error_rate < 0.01`
(http.wait) or `< 0.01` (prometheus.wait). Parsed and evaluated here; never `eval`."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_OPS = ("<=", ">=", "==", "!=", "<", ">")
_SYNTAX = re.compile(
    r"^\s*(?P<path>[A-Za-z_][\w-]*(?:\.[\w-]+)*)?\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<lit>\S.*?)\s*$"
)
_MISSING = object()


@dataclass(frozen=True)
class Condition:
    """`path OP literal`; `path` is empty when the condition applies to a bare value."""

    text: str
    path: tuple[str, ...]
    op: str
    literal: Any

    def value_of(self, data: Any) -> Any:
        """The value the path points at in `data` (dict keys, list indexes), or None;
        `data` itself when the condition has no path."""
        found = _lookup(data, self.path)
        return None if found is _MISSING else found

    def holds(self, value: Any) -> bool:
        """Whether `value OP literal` is true; ordering needs two numbers (else false)."""
        if self.op in ("==", "!="):
            equal = _equal(value, self.literal)
            return equal if self.op == "==" else not equal
        left, right = _number(value), _number(self.literal)
        if left is None or right is None:
            return False
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[
            self.op
        ]

    def __str__(self) -> str:
        return self.text


def parse_condition(text: str, roots: frozenset[str] = frozenset()) -> Condition:
    """Parse a condition; with `roots`, it must start with a path from one of them (`json.x`),
    without, it must not have a path (`< 0.01`). Raise ValueError saying what to write."""
    example = f"{sorted(roots)[0]}.field < 0.01" if roots else "< 0.01"
    match = _SYNTAX.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a condition: write {'a path, ' if roots else ''}an operator "
            f"({' '.join(_OPS)}) and a value, e.g. {example!r}"
        )
    path = tuple(match["path"].split(".")) if match["path"] else ()
    if roots and (not path or path[0] not in roots):
        raise ValueError(
            f"{text!r}: the condition must start with {' or '.join(sorted(roots))}, e.g. {example!r}"
        )
    if not roots and path:
        raise ValueError(f"{text!r}: write only an operator and a value, e.g. {example!r}")
    return Condition(text=text.strip(), path=path, op=match["op"], literal=_literal(match["lit"]))


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a value: write a number, true, false, null or a quoted string"
        ) from None


def _lookup(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return _MISSING
    return data


def _equal(value: Any, literal: Any) -> bool:
    """JSON equality: numbers by value (0 == 0.0 == "0"), booleans only equal booleans."""
    if isinstance(value, bool) or isinstance(literal, bool):
        return isinstance(value, bool) and isinstance(literal, bool) and value == literal
    left, right = _number(value), _number(literal)
    if left is not None and right is not None:
        return left == right
    return bool(value == literal)


def _number(value: Any) -> float | None:
    """Numbers, and strings holding one (Prometheus sends "0.005"); booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def _validator(roots: frozenset[str]) -> BeforeValidator:
    return BeforeValidator(lambda v: parse_condition(v, roots) if isinstance(v, str) else v)


_as_text = PlainSerializer(str, return_type=str)

#: A condition on a JSON response: `json.a.b < 1` or `status == 200`.
PathCondition = Annotated[Condition, _validator(frozenset({"json", "status"})), _as_text]
#: A condition on one number: `< 0.01`, `== 0`.
ValueCondition = Annotated[Condition, _validator(frozenset()), _as_text]
