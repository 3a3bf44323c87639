"""Find, read and validate runbooks before any workflow starts.

Every problem of a file is reported at once, each as `file:line:col: what is wrong and what
to write instead`: a schema error does not hide the others, since the static checks still run
on what parsed (`warroom.language.salvage`). Reading is bounded (see
`warroom.language.yaml_source` for the size, nesting and alias limits; MAX_STEPS here), so no
input produces a traceback or a hang.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from warroom.errors import RunbookError, RunbookProblem
from warroom.language.actions import ACTION_PARAMS
from warroom.language.checks import Finding, check_runbook, did_you_mean, runbook_warnings
from warroom.language.durations import AT_LOAD
from warroom.language.runbook import PATTERN_WORDS, Chat, Runbook
from warroom.language.salvage import data_loc, salvage
from warroom.language.teams import TEAMS_FILE, Teams, TeamsFile, teams_path
from warroom.language.yaml_source import (
    MAX_BYTES,
    Document,
    Loc,
    YamlProblem,
    read_document,
    too_big,
    value_at,
)

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)

#: Most steps a runbook may have: more is a generated file gone wrong, not a runbook.
MAX_STEPS = 500


def _shipped_runbooks() -> Path:
    """The runbooks that come with warroom: in the installed package, or the source tree."""
    package = Path(__file__).resolve().parent.parent  # warroom/
    installed = package / "shipped_runbooks"
    if installed.is_dir():
        return installed
    return package.parent / "runbooks"


#: Shipped runbooks: `runbooks/` in the source tree, `warroom/shipped_runbooks/` when installed.
SHIPPED_RUNBOOKS = _shipped_runbooks()

# Fields whose value may take several shapes: one message saying which, not one per shape.
_SHAPES = {
    "on_failure": "on_failure is pause, continue, abort or {goto: STEP_ID}",
    "when": 'when is true, false or a condition template, e.g. "{{ steps.x.rate > 0.05 }}"',
    "default": "a param default is text, a number or true/false",
}


#: Files beside the runbooks that are configuration, not runbooks.
CONFIG_FILES = frozenset({TEAMS_FILE, "people.yaml", "oncall.yaml", "chat.yaml"})
#: The default `chat:` of the runbooks beside it that say nothing (`slack: {channel: create}`).
CHAT_FILE = "chat.yaml"


def runbook_dirs() -> list[Path]:
    """Where `--runbook NAME` looks: $WARROOM_RUNBOOKS (path list), ./runbooks, the shipped ones."""
    dirs = [Path(p) for p in os.environ.get("WARROOM_RUNBOOKS", "").split(os.pathsep) if p]
    return [*dirs, Path("runbooks"), SHIPPED_RUNBOOKS]


def runbook_files(directory: Path) -> list[Path]:
    """The runbook files of a directory: every *.yaml / *.yml except the configuration files
    that live beside runbooks (CONFIG_FILES)."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and p.name not in CONFIG_FILES and p.is_file()
    )


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
    known = sorted({p.stem for d in runbook_dirs() if d.is_dir() for p in runbook_files(d)})
    hint = f"known runbooks: {', '.join(known)}" if known else "no runbooks found"
    raise RunbookError(f"no runbook named {ref!r} ({hint}); or pass a path to a .yaml file")


def load_runbook(ref: str) -> Runbook:
    """Find (by name or path), read and validate a runbook, with the teams next to it."""
    return load_runbook_file(find_runbook(ref))


def load_runbook_file(path: Path, *, warnings: list[RunbookProblem] | None = None) -> Runbook:
    """Read and validate one runbook file, checking its `group:` approvers against its teams
    (`warnings`: see `parse_runbook`)."""
    runbook = parse_runbook(
        read_limited(path), str(path), teams=load_teams_for(path), warnings=warnings
    )
    return with_chat_default(runbook, path)


def load_with_teams(ref: str) -> tuple[Runbook, Teams | None]:
    """The runbook and its teams, for the declare path: resolve each step's approvers with
    `warroom.language.teams.resolve_approvers(step.approval.approvers, teams or {})`."""
    path = find_runbook(ref)
    teams = load_teams_for(path)
    return with_chat_default(parse_runbook(read_limited(path), str(path), teams=teams), path), teams


def with_chat_default(runbook: Runbook, path: Path) -> Runbook:
    """The runbook with chat.yaml's `chat:` (beside it) when it says nothing of its own."""
    chat_file = path.parent / CHAT_FILE
    if runbook.chat is not None or not chat_file.is_file():
        return runbook
    chat = parse_document(read_limited(chat_file), str(chat_file), Chat)
    return runbook.model_copy(update={"chat": chat})


def load_teams_for(runbook_path: Path | None) -> Teams | None:
    """The teams a runbook's `group:` approvers resolve against, or None when there is no file."""
    path = teams_path(runbook_path)
    return None if path is None else load_teams(path)


def load_teams(path: Path) -> dict[str, list[str]]:
    """Read teams.yaml (`group: [person, ...]`); problems are reported like a runbook's."""
    if not path.is_file():
        raise RunbookError("no such teams file ($WARROOM_TEAMS or teams.yaml)", path=str(path))
    return parse_document(read_limited(path), str(path), TeamsFile).root


def parse_document(
    text: str | bytes,
    path: str,
    model: type[M],
    *,
    check_data: Callable[[Any], Iterable[Finding]] | None = None,
    check: Callable[[M], Iterable[Finding]] | None = None,
) -> M:
    """Read YAML with positions and validate it as `model`; `check_data` looks at the data as
    read, whether or not it fits the model (so that its findings and the schema's come
    together), `check` at the model once it fits. Every problem reported like a runbook's
    (RunbookError, file:line:col). For teams.yaml and rehearsal scenarios."""
    doc = _document(text, path)
    problems = _doc_problems(path, doc)
    try:
        value = model.model_validate(doc.data, context=AT_LOAD)
    except ValidationError as exc:
        problems += [_problem(path, doc, f) for f in _schema_findings(exc, doc, model)]
    else:
        problems += [_problem(path, doc, f) for f in (check(value) if check else ())]
    problems += [_problem(path, doc, f) for f in (check_data(doc.data) if check_data else ())]
    if problems:
        raise RunbookError.of(_unique(problems))
    return value


def parse_runbook(
    text: str | bytes,
    path: str = "<runbook>",
    *,
    teams: Teams | None = None,
    warnings: list[RunbookProblem] | None = None,
) -> Runbook:
    """Parse and validate runbook YAML; every problem is reported with its line and column.

    `teams` resolves `group:` approvers; without it a runbook using groups is refused. What
    loads but has no effect (`checks.runbook_warnings`) is added to `warnings`, located like
    a problem; without a list it is logged as a warning (`warroom.language.loader`).
    """
    doc = _document(text, path)
    located = _doc_problems(path, doc)
    findings: list[Finding] = []
    data = doc.data
    if not isinstance(data, dict):
        finding = Finding((), "a runbook is a YAML mapping with name, title, severity and steps")
        raise RunbookError.of([*located, _problem(path, doc, finding)])
    steps = data.get("steps")
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        raise RunbookError.of(
            [
                _problem(
                    path,
                    doc,
                    Finding(
                        ("steps",),
                        f"{len(steps)} steps; a runbook may have at most {MAX_STEPS}: "
                        "split it into several runbooks",
                        at_key=True,
                    ),
                )
            ]
        )
    findings += _empty_approvals(data)
    runbook: Runbook | None = None
    try:
        runbook = Runbook.model_validate(data, context=AT_LOAD)
    except ValidationError as exc:
        findings += _schema_findings(exc, doc, Runbook)
        findings += _partial_findings(data, exc, teams)
    else:
        findings += check_runbook(runbook, ACTION_PARAMS, teams)
    if findings or located:
        raise RunbookError.of(_unique(located + [_problem(path, doc, f) for f in findings]))
    assert runbook is not None
    noticed = [_problem(path, doc, f) for f in runbook_warnings(runbook)]
    if warnings is not None:
        warnings += noticed
    for problem in noticed if warnings is None else ():
        log.warning("warning: %s", problem)
    return runbook


# ---- reading -------------------------------------------------------------------------


def read_limited(path: Path) -> bytes:
    """A runbook file's bytes; a file over MAX_BYTES is refused without reading it all."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise RunbookError(f"cannot read: {exc.strerror}", path=str(path)) from None
    if len(raw) > MAX_BYTES:
        problem = too_big(max(size, len(raw)))
        raise RunbookError.of([RunbookProblem(str(path), 1, 1, problem.message)])
    return raw


def _document(text: str | bytes, path: str) -> Document:
    try:
        return read_document(text)
    except YamlProblem as exc:
        raise RunbookError.of(
            [RunbookProblem(path, exc.mark.line, exc.mark.col, exc.message)]
        ) from None


def _doc_problems(path: str, doc: Document) -> list[RunbookProblem]:
    """Problems found while reading, which already know their mark."""
    return [
        RunbookProblem(path, mark.line, mark.col, f"{_where(doc.data, loc)}: {message}")
        for loc, mark, message in doc.problems
    ]


def _empty_approvals(data: dict[str, Any]) -> Iterator[Finding]:
    # `approval:` left empty reads as null, which would otherwise silently mean "no gate".
    steps = data.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict) and "approval" in step and step["approval"] is None:
            yield Finding(
                ("steps", i, "approval"),
                "approval is empty, which would mean no gate at all: list who approves, "
                "e.g. approval: {approvers: [alice]}, or remove the key",
                at_key=True,
            )


def _partial_findings(
    data: dict[str, Any], exc: ValidationError, teams: Teams | None
) -> list[Finding]:
    """The static problems of what parsed of a runbook that failed its schema, so a schema
    error does not hide them; the parts set aside have their schema errors already."""
    salvaged = salvage(data, exc)
    if salvaged is None:
        return []
    partial, gaps = salvaged
    return list(check_runbook(partial, ACTION_PARAMS, teams, gaps))


# ---- schema errors -------------------------------------------------------------------


def _schema_findings(
    exc: ValidationError, doc: Document, root: type[BaseModel]
) -> Iterator[Finding]:
    seen: set[Loc] = set()
    for err in exc.errors():
        loc = data_loc(doc.data, tuple(err["loc"]))
        shape = next((s for k, s in _SHAPES.items() if k in loc), None)
        if err["type"] not in ("extra_forbidden", "missing") and shape:
            field = next(k for k in _SHAPES if k in loc)
            loc = loc[: loc.index(field) + 1]
            if loc in seen:
                continue
            seen.add(loc)
            yield Finding(loc, f"{shape} (got {value_at(doc.data, loc)!r})")
            continue
        if loc in seen and err["type"] != "missing":
            continue
        seen.add(loc)
        finding = _explain(err, loc, doc, root)
        if err["loc"][-1:] == ("[key]",) and not finding.at_key:  # the key itself is wrong
            finding = Finding(finding.loc, f"key {loc[-1]!r}: {finding.message}", at_key=True)
        yield finding


def _explain(err: Any, loc: Loc, doc: Document, root: type[BaseModel]) -> Finding:
    kind, msg = err["type"], str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1], root)
        keys = [f.alias or n for n, f in model.model_fields.items()] if model else []
        allowed = f"; allowed here: {', '.join(keys)}" if keys else ""
        return Finding(loc, f"unknown key {key!r}{did_you_mean(key, keys)}{allowed}", at_key=True)
    if kind == "missing":
        return Finding(loc[:-1], f"required key {str(loc[-1])!r} is missing", at_key=True)
    words = PATTERN_WORDS.get(str(err.get("ctx", {}).get("pattern")))
    if kind == "string_pattern_mismatch" and words:
        if err["loc"][-1:] == ("[key]",):  # a mapping key, e.g. a label name under match
            return Finding(loc, f"{err['input']!r} is not a valid name: use {words}", at_key=True)
        what = loc[-1] if loc and isinstance(loc[-1], str) else "value"
        return Finding(loc, f"{err['input']!r} is not a valid {what}: use {words}")
    value = value_at(doc.data, loc)
    if value is None and loc in doc.values:
        return Finding(loc, f"the value is empty: {msg}")
    return Finding(loc, f"{msg}{_yaml_hint(doc, loc, kind)}")


def _model_at(loc: Loc, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model the mapping at `loc` holds (to suggest the keys it accepts), found by
    following `loc` through the fields of `root` and the models inside them."""
    kinds: list[Any] = [root]
    for part in loc:
        kinds = [inner for kind in kinds for inner in _inside(kind, part)]
    return next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)


def _inside(kind: Any, part: str | int) -> Iterator[Any]:
    """The types a value of type `kind` holds at key or index `part`."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        field = next(
            (f for n, f in kind.model_fields.items() if part in (n, f.alias)),
            None,
        )
        if field is not None:
            yield from _alternatives(field.annotation)
        return
    args = get_args(kind)
    if get_origin(kind) is list and isinstance(part, int) and args:
        yield from _alternatives(args[0])
    elif get_origin(kind) is dict and len(args) == 2:
        yield from _alternatives(args[1])


def _alternatives(kind: Any) -> Iterator[Any]:
    """`kind` without Annotated and Optional: each type a union allows."""
    origin = get_origin(kind)
    if origin is Annotated:
        yield from _alternatives(get_args(kind)[0])
    elif origin in (Union, UnionType):
        for arg in get_args(kind):
            yield from _alternatives(arg)
    else:
        yield kind


def _yaml_hint(doc: Document, loc: Loc, kind: str) -> str:
    """Values YAML read as something else (`No` → false, `1:30` → 90): say so, suggest quotes."""
    raw = doc.plain.get(loc)
    if raw is None:
        return ""
    value = value_at(doc.data, loc)
    read_as = f"YAML reads unquoted {raw} as {type(value).__name__} {value!r}"
    if ":" in raw or kind in ("string_type", "literal_error", "string_pattern_mismatch"):
        return f' ({read_as}; if you mean the text, quote it: "{raw}")'
    if isinstance(value, bool | dt.date):
        return f" ({read_as})"
    return ""


# ---- formatting ----------------------------------------------------------------------


def _problem(path: str, doc: Document, finding: Finding) -> RunbookProblem:
    mark = doc.key_or_value(finding.loc) if finding.at_key else doc.mark(finding.loc)
    message = finding.message
    if not finding.at_key and "YAML reads" not in message:
        value = value_at(doc.data, finding.loc)
        if isinstance(value, bool | dt.date):
            message += _yaml_hint(doc, finding.loc, "")
    return RunbookProblem(path, mark.line, mark.col, f"{_where(doc.data, finding.loc)}: {message}")


def _where(data: Any, loc: Loc) -> str:
    """`step 'rollback' with.url`, `cadence.SEV1`, `runbook`: the place in words."""
    head, rest = "", loc
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        step = value_at(data, loc[:2])
        sid = step.get("id") if isinstance(step, dict) else None
        head = f"step {sid!r}" if isinstance(sid, str) and sid else f"steps[{loc[1]}]"
        rest = loc[2:]
    tail = ""
    for part in rest:
        tail += f"[{part}]" if isinstance(part, int) else (f".{part}" if tail else str(part))
    return " ".join(x for x in (head, tail) if x) or "runbook"


def _unique(problems: list[RunbookProblem]) -> list[RunbookProblem]:
    return list(dict.fromkeys(problems))


def catalogue_dirs() -> list[Path]:
    """The runbook directories that exist, each once, in search order."""
    seen: list[Path] = []
    for directory in runbook_dirs():
        if directory.is_dir() and directory.resolve() not in [s.resolve() for s in seen]:
            seen.append(directory)
    return seen


def catalogue() -> Iterator[tuple[Path, Runbook | RunbookError]]:
    """Every runbook `--runbook NAME` can find, in search order (a name found first wins)."""
    for directory in catalogue_dirs():
        for path in runbook_files(directory):
            try:
                yield path, load_runbook_file(path)
            except RunbookError as exc:
                yield path, exc
