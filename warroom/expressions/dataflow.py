"""Data flow between steps: what an activity's input carries, what a step's result keeps, and
`when` conditions.

Pure and deterministic, so IncidentWorkflow can use it: history stays small because an input
carries only the values its own templates reference, and a stored result only what later
steps can use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

#: A stored step result (its `outputs`, or the action's result without them) is at most this big.
RESULT_LIMIT = 64 * 1024
#: An activity input larger than this would risk Temporal's payload limits (warned at 512 KiB,
#: refused at 2 MiB, which stalls the workflow task); the step fails clearly instead.
INPUT_LIMIT = 512 * 1024
#: A single field of a cut result that stays as it is (status codes, short texts).
_SMALL_FIELD = 1024

Path = tuple[str, ...]
# Which parts of the data a set of paths selects: a key maps to its own sub-selection,
# or to None when the whole value under it is needed.
_Selection = dict[str, "_Selection | None"]

_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def size_of(value: Any) -> int:
    """Bytes of `value` as JSON (what a payload of it weighs, near enough)."""
    return len(json.dumps(value, default=str, separators=(",", ":")).encode())


def project(data: Mapping[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """The part of `data` that `paths` reach: `("steps", "a", "json")` keeps steps.a.json only.

    A path that stops at a value keeps all of it; a path through something that is not a
    mapping (a list, a method call) keeps the whole value at that point.
    """
    selection: _Selection = {}
    for path in sorted(paths, key=len):
        node = selection
        for depth, key in enumerate(path):
            if key in node and node[key] is None:
                break  # a shorter path already keeps all of it
            if depth == len(path) - 1:
                node[key] = None
            else:
                child = node.get(key) or {}
                node[key] = child
                node = child
    return _pruned(data, selection)


def _pruned(value: Mapping[str, Any], selection: _Selection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in selection.items():
        if key not in value:
            continue  # rendering says what is missing, with the template's own words
        inner = value[key]
        out[key] = inner if sub is None or not isinstance(inner, Mapping) else _pruned(inner, sub)
    return out


def cut_result(result: Mapping[str, Any], limit: int = RESULT_LIMIT) -> dict[str, Any]:
    """A step result that fits `limit`: small fields kept, large ones replaced by a marker."""
    if size_of(result) <= limit:
        return dict(result)
    kept: dict[str, Any] = {}
    for key, value in result.items():
        size = size_of(value)
        kept[key] = (
            value
            if size <= _SMALL_FIELD
            else (
                f"[cut: {size} bytes, over the {limit // 1024} KiB limit for a stored result; "
                "declare `outputs` on the step to keep what later steps need]"
            )
        )
    return kept


def evaluate_when(condition: str, data: Mapping[str, Any]) -> bool:
    """Whether a step's `when` holds: a `{{ expression }}` evaluated on `data`, or true/false.

    Raises ValueError with a sentence for people when the condition fails or is not a boolean.
    """
    text = condition.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        try:
            value = _env.compile_expression(text[2:-2].strip())(**data)
        except jinja2.TemplateError as exc:
            raise ValueError(f"`when` {condition!r} failed: {exc}") from exc
        if isinstance(value, jinja2.Undefined):
            raise ValueError(f"`when` {condition!r} refers to something undefined")
        return _as_bool(value, condition)
    try:
        rendered = _env.from_string(text).render(data)
    except jinja2.TemplateError as exc:
        raise ValueError(f"`when` {condition!r} failed: {exc}") from exc
    return _as_bool(rendered, condition)


def render_text(text: str, data: Mapping[str, Any]) -> str:
    """A template rendered on `data` in the workflow (no secrets there): for `note` steps.

    Raises ValueError with a sentence for people when it fails.
    """
    try:
        return _env.from_string(text).render(data)
    except jinja2.TemplateError as exc:
        raise ValueError(f"template {text!r} failed: {exc}") from exc


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0", "", "none"})


def _as_bool(value: Any, condition: str) -> bool:
    if isinstance(value, bool | int | float) or value is None:
        return bool(value)
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"`when` {condition!r} gave {str(value)[:80]!r}, which is not true or false")
