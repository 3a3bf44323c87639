"""Property tests: whatever is done to a valid runbook — keys dropped, duplicated or retyped,
random bytes, deep nesting, aliases — the loader answers with a Runbook or a RunbookError whose
problems are located, in file order and each once, never another exception and never a hang."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.language.test_runbook_language import FULL, TEAMS
from warroom.errors import RunbookError
from warroom.language.loader import SHIPPED_RUNBOOKS, parse_runbook, runbook_files
from warroom.language.runbook import Runbook
from warroom.language.template_refs import references

SEEDS = [FULL, *(p.read_text() for p in runbook_files(SHIPPED_RUNBOOKS))]

# Generous per-example bounds: they catch a hang or a blow-up, not a slow machine.
SETTINGS = settings(
    max_examples=150,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG_SECONDS = 20


@contextmanager
def no_hang() -> Iterator[None]:
    """Fail instead of hanging: a loader that loops forever raises here after HANG_SECONDS."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"the loader ran for more than {HANG_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def load(text: str | bytes) -> None:
    """The property itself: a Runbook (that round-trips) or a located RunbookError."""
    with no_hang():
        try:
            rb = parse_runbook(text, "mutant.yaml", teams=TEAMS)
        except RunbookError as exc:
            assert exc.problems, str(exc)
            # All in one report: in file order, each once.
            positions = [(p.line, p.col) for p in exc.problems]
            assert positions == sorted(positions)
            assert len(set(exc.problems)) == len(exc.problems)
            for problem in exc.problems:
                assert problem.path == "mutant.yaml"
                assert problem.line >= 1 and problem.col >= 1
                assert problem.message
            return
    assert Runbook.model_validate_json(rb.model_dump_json()) == rb


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["{{ steps }}", "{{ x", "1:30", "No", "on", "30s", "0s", "*", "group:x"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*prefix, i))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_data(draw: st.DrawFn) -> str:
    data = yaml.safe_load(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        action = draw(st.sampled_from(["drop", "retype", "duplicate", "nest"]))
        if action == "drop":
            del parent[path[-1]]
        elif action == "retype":
            parent[path[-1]] = draw(values)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(parent[path[-1]])
        else:
            depth = draw(st.integers(1, 120))
            nested: Any = parent[path[-1]]
            for _ in range(depth):
                nested = [nested]
            parent[path[-1]] = nested
    return yaml.safe_dump(data, sort_keys=False)


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    raw = draw(st.sampled_from(SEEDS)).encode()
    lines = raw.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["bytes", "cut", "line", "alias", "nest", "key"]))
        if action == "bytes":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
        elif action == "cut":
            raw = raw[:at] + raw[at + draw(st.integers(1, 40)) :]
        elif action == "line" and lines:
            raw = raw + draw(st.sampled_from(lines))  # a repeated key or step, at the end
        elif action == "alias":
            bomb = b'x: &a ["l","l","l","l","l","l","l","l","l","l"]\n' + b"".join(
                f"y{i}: &{chr(98 + i)} [".encode()
                + b",".join([f"*{chr(97 + i)}".encode()] * 10)
                + b"]\n"
                for i in range(draw(st.integers(1, 7)))
            )
            raw = bomb + raw
        elif action == "nest":
            depth = draw(st.integers(50, 5000))
            raw = raw[:at] + b"[" * depth + b"]" * draw(st.integers(0, depth)) + raw[at:]
        else:
            raw = raw + b"steps: &s [*s]\n"
    return raw


@SETTINGS
@given(mutated_data())
def test_structural_mutations_never_crash_the_loader(text: str):
    load(text)


@SETTINGS
@given(mutated_text())
def test_byte_mutations_never_crash_or_hang_the_loader(raw: bytes):
    load(raw)


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_is_loaded_or_refused(text: str):
    load(text)


@settings(max_examples=300, deadline=timedelta(seconds=5))
@given(st.text(alphabet="{}%#[]()'\".|_ abc-+*=<>!0123", max_size=60))
def test_references_never_raise(text: str):
    assert isinstance(references(text), frozenset)
