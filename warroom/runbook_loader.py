"""Find, parse and validate runbooks before any workflow starts; errors carry file, line and a fix."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, SequenceNode

from activities.registry import ACTIVITIES
from warroom.actions import ACTION_PARAMS
from warroom.errors import RunbookError
from warroom.runbook import ActionRef, Approval, RetrySpec, Runbook, Step, StepProblem
from warroom.templating import check_template

assert ACTIVITIES  # importing the registry fills ACTION_PARAMS

#: Shipped runbooks, next to the packages in the source tree.
SHIPPED_RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"

# Which model a mapping at a given key holds, to suggest the keys it accepts.
_MODEL_AT: dict[str, type[BaseModel]] = {
    "": Runbook,
    "steps": Step,
    "updates": ActionRef,
    "approval": Approval,
    "retry": RetrySpec,
}


def runbook_dirs() -> list[Path]:
    """Where `--runbook NAME` looks: $WARROOM_RUNBOOKS (path list), ./runbooks, the shipped ones."""
    dirs = [Path(p) for p in os.environ.get("WARROOM_RUNBOOKS", "").split(os.pathsep) if p]
    return [*dirs, Path("runbooks"), SHIPPED_RUNBOOKS]


def find_runbook(ref: str) -> Path:
    """A path to a runbook file, given a path or a runbook name."""
    candidate = Path(ref)
    if candidate.suffix in (".yaml", ".yml") or os.sep in ref:
        if candidate.is_file():
            return candidate
        raise RunbookError("no such file", path=ref)
    for directory in runbook_dirs():
        for suffix in (".yaml", ".yml"):
            path = directory / f"{ref}{suffix}"
            if path.is_file():
                return path
    known = sorted({p.stem for d in runbook_dirs() if d.is_dir() for p in d.glob("*.y*ml")})
    hint = f"known runbooks: {', '.join(known)}" if known else "no runbooks found"
    raise RunbookError(f"no runbook named {ref!r} ({hint}); or pass a path to a .yaml file")


def load_runbook(ref: str) -> Runbook:
    path = find_runbook(ref)
    return parse_runbook(path.read_text(encoding="utf-8"), str(path))


def parse_runbook(text: str, path: str = "<runbook>") -> Runbook:
    """Parse and validate runbook YAML; every problem is reported with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RunbookError(
            f"not valid YAML: {problem}", path=path, line=mark.line + 1 if mark else None
        ) from exc
    if root is None or not isinstance(data, dict):
        raise RunbookError(
            "a runbook is a YAML mapping with name, title, severity and steps", path=path, line=1
        )
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        errors = [_located(err) for err in exc.errors()]
        problems = [(_line_of(root, err["loc"]), _explain(err)) for err in errors]
        _raise(path, problems)
    _raise(path, list(_action_problems(runbook, root)))
    return runbook


def _raise(path: str, problems: list[tuple[int, str]]) -> None:
    if not problems:
        return
    problems.sort(key=lambda p: p[0])
    first_line, first = problems[0]
    more = "".join(f"\n{path}:{line}: {text}" for line, text in problems[1:])
    raise RunbookError(first + more, path=path, line=first_line)


def _action_problems(runbook: Runbook, root: Node) -> Iterator[tuple[int, str]]:
    entries: list[tuple[tuple[str | int, ...], ActionRef, bool]] = [
        (("steps", i), step, False) for i, step in enumerate(runbook.steps)
    ]
    entries += [(("updates", i), ref, True) for i, ref in enumerate(runbook.updates)]
    known = ", ".join(sorted(ACTION_PARAMS))
    for loc, ref, is_update in entries:
        where = _dotted(loc)
        params = ACTION_PARAMS.get(ref.action)
        if params is None:
            yield (
                _line_of(root, (*loc, "action")),
                f"{where}.action: unknown action {ref.action!r}{_close(ref.action, ACTION_PARAMS)}"
                f"; known actions: {known}",
            )
            continue
        accepted = {f.alias or n: f for n, f in params.model_fields.items()}
        if is_update and "text" not in accepted:
            yield (
                _line_of(root, (*loc, "action")),
                f"{where}.action: update targets receive the status line as `text`, "
                f"which {ref.action} does not take: use webhook.post",
            )
        for key, value in ref.with_.items():
            if key not in accepted:
                yield (
                    _line_of(root, (*loc, "with", key)),
                    f"{where}.with.{key}: {ref.action} has no parameter {key!r}"
                    f"{_close(key, accepted)}; it takes: {', '.join(accepted)}",
                )
            for text in _strings(value):
                if (err := check_template(text)) is not None:
                    yield (_line_of(root, (*loc, "with", key)), f"{where}.with.{key}: {err}")
        given = set(ref.with_) | ({"text"} if is_update else set())
        for name, field in accepted.items():
            if field.is_required() and name not in given:
                yield (
                    _line_of(root, (*loc, "with")),
                    f"{where}.with: {ref.action} needs {name!r}: add `{name}: ...` under `with`",
                )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _located(err: Any) -> Any:
    """Point a whole-runbook check (duplicate id, phase order) at the step it is about."""
    problem = err.get("ctx", {}).get("error")
    if isinstance(problem, StepProblem):
        return {**err, "loc": problem.loc}
    return err


def _explain(err: Any) -> str:
    loc: tuple[str | int, ...] = err["loc"]
    where = _dotted(loc)
    kind, msg = err["type"], str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        parent = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
        model = _MODEL_AT.get(parent)
        if model is None:
            return f"{where}: unknown key {key!r}"
        keys = [f.alias or n for n, f in model.model_fields.items()]
        return f"{where}: unknown key {key!r}{_close(key, keys)}; allowed here: {', '.join(keys)}"
    if kind == "missing":
        return f"{where}: required key {str(loc[-1])!r} is missing"
    if kind == "string_pattern_mismatch" and loc[-1] in ("id", "name"):
        return f"{where}: {err['input']!r} is not a valid {loc[-1]}: use lowercase letters, digits, - and _"
    return f"{where}: {msg}"


def _close(word: str, options: Any) -> str:
    match = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "runbook"


def _line_of(node: Node, loc: tuple[str | int, ...]) -> int:
    """The 1-based line of the YAML node a validation location points at (or its nearest parent)."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
