"""Read runbook YAML without trusting it: limits checked while composing, positions kept.

`yaml.safe_load` would expand an alias bomb, recurse through 5,000-deep nesting and let a
repeated key silently win, so runbooks are composed into nodes by a loader that counts depth
and nodes, then turned into plain data here, walking the node graph under the same limits.
Every value keeps the line and column it came from, so errors can point at it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: Largest runbook file read, in bytes.
MAX_BYTES = 1024 * 1024
#: Deepest nesting of mappings and sequences (aliases included).
MAX_DEPTH = 64
#: Most values in a document after alias expansion (stops "billion laughs").
MAX_NODES = 100_000

Loc = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Dates stay the text they were written as: a runbook value is JSON, and `2026-01-01`
# meant as a date is sent as that text anyway.
_TEXT_TAGS = {_STR_TAG, "tag:yaml.org,2002:timestamp"}
#: Scalar types a runbook may hold besides text (no !!binary, !!python/..., custom tags).
_TYPED_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null")}
_PLAIN_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass(frozen=True, order=True)
class Mark:
    """A 1-based line and column in a file."""

    line: int
    col: int


class YamlProblem(Exception):
    """The text cannot become runbook data; `mark` says where."""

    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


@dataclass
class Document:
    """Plain data read from YAML plus where each value and mapping key stood."""

    data: Any
    values: dict[Loc, Mark] = field(default_factory=dict)
    keys: dict[Loc, Mark] = field(default_factory=dict)
    #: Unquoted scalars YAML read as something other than text (`No` → false), by location.
    plain: dict[Loc, str] = field(default_factory=dict)
    #: Problems found while reading that still left usable data (duplicate keys, merge keys).
    problems: list[tuple[Loc, Mark, str]] = field(default_factory=list)

    def mark(self, loc: Loc, *, key: bool = False) -> Mark:
        """Where `loc` is (its key when `key`), or the nearest enclosing value that exists."""
        for end in range(len(loc), -1, -1):
            prefix = loc[:end]
            if key and end == len(loc) and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return Mark(1, 1)

    def key_or_value(self, loc: Loc) -> Mark:
        """The key naming `loc` when it has one (a mapping entry), else its value."""
        return self.keys.get(loc) or self.mark(loc)


def _mark(node_mark: yaml.Mark | None) -> Mark:
    if node_mark is None:
        return Mark(1, 1)
    return Mark(node_mark.line + 1, node_mark.column + 1)


class _LimitedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses nesting deeper than MAX_DEPTH before recursing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def _here(self) -> Mark:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        return _mark(event.start_mark)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlProblem(
                    f"nested deeper than {MAX_DEPTH} levels: flatten the structure",
                    self._here(),
                )
            if self._nodes > MAX_NODES:
                raise YamlProblem(
                    f"more than {MAX_NODES} values: split the runbook",
                    self._here(),
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_document(raw: bytes | str) -> Document:
    """Turn runbook bytes into data with positions; raise YamlProblem when that is impossible."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > MAX_BYTES:
        raise too_big(size)
    text = raw if isinstance(raw, str) else _decode(raw)
    loader: _LimitedLoader | None = None
    try:
        loader = _LimitedLoader(text)  # checks every character at once
        root = loader.get_single_node()
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        raise _syntax_problem(exc) from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        raise _reader_problem(exc, text) from None
    except RecursionError:  # belt and braces: the depth limit should stop this first
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", Mark(1, 1)) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise YamlProblem(
            "the file is empty: a runbook is a YAML mapping with name, title and steps", Mark(1, 1)
        )
    doc = Document(data=None)
    doc.data = _Builder(doc).build(root, ())
    return doc


def too_big(size: int) -> YamlProblem:
    """The problem of a file over MAX_BYTES (refused before it is parsed)."""
    return YamlProblem(
        f"the file is {size:,} bytes; a runbook may be at most {MAX_BYTES:,} bytes (1 MiB): "
        "split it into several runbooks",
        Mark(1, 1),
    )


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise YamlProblem(
            f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded): "
            "save it as UTF-8",
            Mark(line, col),
        ) from None


def _syntax_problem(exc: yaml.MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or str(exc)
    if "expected a single document" in (exc.context or "") + problem:
        return YamlProblem(
            "the file holds more than one YAML document: a runbook file is one document, "
            "so remove the second `---` part or move it to its own file",
            _mark(mark),
        )
    hint = ""
    if "'\\t'" in problem:
        hint = ": indent with spaces, not tabs"
    elif exc.context:
        hint = f" ({exc.context})"
    return YamlProblem(f"not valid YAML: {problem}{hint}", _mark(mark))


def _reader_problem(exc: yaml.YAMLError, text: str) -> YamlProblem:
    position = int(getattr(exc, "position", 0) or 0)
    before = text[:position]
    line = before.count("\n") + 1
    col = position - (before.rfind("\n") + 1) + 1
    character = getattr(exc, "character", None)
    code = f"#x{character:04x}" if isinstance(character, int) else "?"
    return YamlProblem(
        f"character {code} is not allowed in YAML: remove it (control characters, "
        "and NUL in particular, cannot appear in a runbook)",
        Mark(line, col),
    )


class _Builder:
    """Walks composed nodes into plain data under the depth and node limits."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.nodes = 0
        self.open: set[int] = set()  # nodes being built: meeting one again is a recursive alias
        self.constructor = SafeConstructor()

    def build(self, node: Node, loc: Loc) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlProblem(
                f"more than {MAX_NODES} values once aliases are expanded: an alias bomb? "
                "Write the values out instead of nesting aliases",
                _mark(node.start_mark),
            )
        if len(loc) > MAX_DEPTH:
            raise YamlProblem(
                f"nested deeper than {MAX_DEPTH} levels (aliases included): flatten the structure",
                _mark(node.start_mark),
            )
        if id(node) in self.open:
            raise YamlProblem(
                "a recursive alias (an anchor used inside itself): a runbook must be finite",
                _mark(node.start_mark),
            )
        self.doc.values.setdefault(loc, _mark(node.start_mark))
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc)
        if node.tag not in _PLAIN_TAGS:
            self._refuse_tag(node)
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, loc)
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, loc)
            if key is None:
                continue
            where = _mark(key_node.start_mark)
            if key in out:
                first = self.doc.keys[(*loc, key)]
                self.doc.problems.append(
                    (
                        (*loc, key),
                        where,
                        f"key {key!r} appears twice (first on line {first.line}): YAML would keep "
                        "only the last one, so merge them or remove one",
                    )
                )
                continue
            self.doc.keys[(*loc, key)] = where
            out[key] = self.build(value_node, (*loc, key))
        return out

    def _key(self, node: Node, loc: Loc) -> str | None:
        """Keys are taken as written (`on:` stays "on"); only plain scalars may be keys."""
        if isinstance(node, ScalarNode) and node.tag == _MERGE_TAG:
            self.doc.problems.append(
                (
                    loc,
                    _mark(node.start_mark),
                    "merge keys (<<) are not supported: write the keys out",
                )
            )
            return None
        if not isinstance(node, ScalarNode):
            self.doc.problems.append(
                (
                    loc,
                    _mark(node.start_mark),
                    "a mapping key must be a plain word, not a list or mapping",
                )
            )
            return None
        return str(node.value)

    def _scalar(self, node: ScalarNode, loc: Loc) -> Any:
        if node.tag in _TEXT_TAGS:
            return node.value
        if node.tag not in _TYPED_TAGS:
            self._refuse_tag(node)
        try:
            value = self.constructor.construct_object(node)
        except (ConstructorError, ValueError, OverflowError):
            self.doc.problems.append(
                (loc, _mark(node.start_mark), f"{_short(node.value)} is not a number YAML can read")
            )
            return node.value
        if isinstance(value, float) and not math.isfinite(value):
            # JSON (the workflow input) has no infinity or NaN.
            self.doc.problems.append(
                (
                    loc,
                    _mark(node.start_mark),
                    f"{node.value} is not a finite number: quote it if it is text",
                )
            )
            return node.value
        if node.style is None and value is not None:
            self.doc.plain[loc] = node.value  # YAML chose a type for unquoted text: hint later
        return value

    def _refuse_tag(self, node: Node) -> None:
        raise YamlProblem(
            f"YAML tag {node.tag!r} is not supported in runbooks: remove it (quote the value "
            "if it is text)",
            _mark(node.start_mark),
        )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def walk_strings(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every string inside `value` (dicts and lists walked) with its location."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk_strings(item, (*loc, i))


def child(data: Any, part: str | int) -> tuple[bool, Any]:
    """(True, data[part]) when `data` (a dict or list) has `part`, else (False, None)."""
    if isinstance(data, dict) and part in data:
        return True, data[part]
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return True, data[part]
    return False, None


def value_at(data: Any, loc: Loc) -> Any:
    """The value at `loc` inside `data`, or None when there is none."""
    for part in loc:
        found, data = child(data, part)
        if not found:
            return None
    return data
