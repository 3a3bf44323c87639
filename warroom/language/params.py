"""Runbook `params`: check and convert the values a person gives (`declare --param k=v`).

Pure functions (no I/O): the CLI and the API call `coerce_params` before starting a
workflow, and the model uses `coerce_value` to check a param's default at load.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from warroom.errors import ParamsError
from warroom.language.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from warroom.language.runbook import Param

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce_value(kind: str, value: Any) -> Any:
    """`value` as a param of type `kind` (text from the command line, or typed JSON).

    Returns JSON-friendly values (a duration as its normal text, "1h30m"), since they
    travel in the workflow input. Raises ValueError saying what to write instead.
    """
    text = value.strip() if isinstance(value, str) else None
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not text: quote it")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"{value!r} is not a bool: write true or false")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if text is not None and text.lstrip("+-").isdigit() and len(text) <= 18:
            return int(text)
        raise ValueError(f"{value!r} is not a whole number: write e.g. 3")
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            if text is not None and len(text) <= 40:
                number = float(text)
                if number == number and abs(number) != float("inf"):  # not nan/inf
                    return number
        except ValueError:
            pass
        raise ValueError(f"{value!r} is not a number: write e.g. 0.05")
    if kind == "duration":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a duration: write it with a unit, e.g. 5m")
        return format_duration(parse_duration(value))
    raise ValueError(f"unknown param type {kind!r}")


def parse_param_args(args: Iterable[str]) -> dict[str, str]:
    """`["window=5m", "dry_run=true"]` → {"window": "5m", "dry_run": "true"}."""
    out: dict[str, str] = {}
    problems = []
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip():
            problems.append(f"--param {arg!r}: write NAME=VALUE")
        elif name.strip() in out:
            problems.append(f"--param {name.strip()!r} is given twice: give it once")
        else:
            out[name.strip()] = value
    if problems:
        raise ParamsError(problems)
    return out


def coerce_params(declared: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared param's value: given ones converted to their type, defaults filled in.

    Raises ParamsError listing every problem at once: an unknown name (with a did-you-mean),
    a required param missing, a value of the wrong type.
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(declared) or "none"
            problems.append(f"unknown param {name!r}{hint}; this runbook takes: {known}")
    for name, param in declared.items():
        if name in given:
            try:
                values[name] = coerce_value(param.type, given[name])
            except ValueError as exc:
                problems.append(f"param {name!r} ({param.type}): {exc}")
        elif param.required:
            problems.append(f"param {name!r} is required: add --param {name}=VALUE")
        elif param.default is not None:
            values[name] = coerce_value(param.type, param.default)
        else:
            values[name] = None
    if problems:
        raise ParamsError(problems)
    return values
