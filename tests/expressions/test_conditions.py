"""The wait condition language: what parses, what holds, and what never does."""

from __future__ import annotations

from typing import Any

import pytest

from warroom.expressions.conditions import parse_condition

JSON = frozenset({"json", "status"})


@pytest.mark.parametrize(
    ("text", "data", "holds"),
    [
        ("json.rate < 0.01", {"json": {"rate": 0.001}}, True),
        ("json.rate < 0.01", {"json": {"rate": 0.01}}, False),
        ("json.rate <= 0.01", {"json": {"rate": 0.01}}, True),
        ("json.rate > 0", {"json": {"rate": "0.5"}}, True),  # numbers sent as strings
        ("json.rate >= 2", {"json": {"rate": 1}}, False),
        ("json.rate < 0.01", {"json": {}}, False),  # a missing value never satisfies
        ("json.rate < 0.01", {"json": {"rate": "low"}}, False),  # nor a non-number
        ("json.rate < 0.01", {"json": {"rate": True}}, False),  # booleans are not numbers
        ("json.rate < 0.01", {"json": None}, False),
        ("json.state == 'ok'", {"json": {"state": "ok"}}, True),
        ('json.state == "ok"', {"json": {"state": "degraded"}}, False),
        ("json.state != 'ok'", {"json": {"state": "ok"}}, False),
        ("json.n == 0", {"json": {"n": 0.0}}, True),
        ("json.n == 0", {"json": {"n": "0"}}, True),
        ("json.ready == true", {"json": {"ready": 1}}, False),
        ("json.items.0.up == true", {"json": {"items": [{"up": True}]}}, True),
        ("json.items.3.up == true", {"json": {"items": [{"up": True}]}}, False),
        ("status == 200", {"status": 200}, True),
        ("json.a-b.c_d > 1", {"json": {"a-b": {"c_d": 2}}}, True),
    ],
)
def test_path_conditions(text: str, data: Any, holds: bool):
    condition = parse_condition(text, JSON)
    assert condition.holds(condition.value_of(data)) is holds


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        ("< 0.01", 0.001, True),
        ("> 0", 0.0, False),
        ("== 0", 0.0, True),
        ("> 0", float("nan"), False),
    ],
)
def test_value_conditions(text: str, value: float, holds: bool):
    assert parse_condition(text).holds(value) is holds


@pytest.mark.parametrize(
    ("text", "roots", "message"),
    [
        ("error_rate < 0.01", JSON, "must start with json or status"),
        ("< 0.01", JSON, "must start with json or status"),
        ("json.x < 0.01", frozenset(), "write only an operator and a value"),
        ("json.x <", JSON, "is not a condition"),
        ("json.x ~ 1", JSON, "is not a condition"),
        ("json.x < low", JSON, "is not a value: write a number"),
        ("__import__('os') < 1", JSON, "is not a condition"),
    ],
)
def test_malformed_conditions_say_what_to_write(text: str, roots: frozenset[str], message: str):
    with pytest.raises(ValueError, match=message):
        parse_condition(text, roots)
