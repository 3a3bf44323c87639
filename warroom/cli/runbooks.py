"""`warroom runbooks …`: the runbook catalogue (list, show), validation for people and CI, and
the JSON Schema editors use to check runbooks as they are typed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from warroom.errors import RunbookError, RunbookProblem, WarroomError
from warroom.language.loader import (
    catalogue,
    catalogue_dirs,
    find_runbook,
    load_runbook,
    load_runbook_file,
    runbook_files,
)
from warroom.language.runbook import PHASE_ORDER, Runbook
from warroom.language.schema import runbook_json_schema

app = typer.Typer(
    help="The runbook catalogue: list, validate, show, schema.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _targets(refs: list[str]) -> Iterator[tuple[str, Path | RunbookError]]:
    """Each runbook file the arguments name: files, directories (every runbook in them), names."""
    for ref in refs:
        path = Path(ref)
        if path.is_dir():
            files = runbook_files(path)
            if not files:
                yield ref, RunbookError("no runbooks (*.yaml, *.yml) in this directory", path=ref)
            for file in files:
                yield str(file), file
            continue
        try:
            yield ref, find_runbook(ref)
        except RunbookError as exc:
            yield ref, exc


def _problems(exc: RunbookError, ref: str) -> list[RunbookProblem]:
    if exc.problems:
        return exc.problems
    # Not located in a file (no such file or runbook): the whole message, at the reference.
    return [RunbookProblem(exc.path or ref, exc.line or 0, 0, str(exc))]


def validate_paths(refs: list[str], *, as_json: bool) -> int:
    """Validate runbooks; print one line per problem and warning (or JSON); the exit code:
    0 ok (warnings or not), 1 not."""
    found: list[RunbookProblem] = []
    warned: list[RunbookProblem] = []
    for ref, target in _targets(refs or [str(d) for d in catalogue_dirs()]):
        noticed: list[RunbookProblem] = []
        try:
            if isinstance(target, RunbookError):
                raise target
            rb = load_runbook_file(target, warnings=noticed)
        except RunbookError as exc:
            problems = _problems(exc, ref)
            found += problems
            if not as_json:
                for problem in problems:
                    line = str(problem) if problem.line else problem.message
                    typer.echo(line if problem.line else f"error: {line}", err=True)
            continue
        warned += noticed
        if not as_json:
            typer.echo(f"ok: {ref} ({rb.name}, {len(rb.steps)} steps)")
            for warning in noticed:
                typer.echo(f"warning: {warning}", err=True)
    if as_json:
        rows = [_row(p, "error") for p in found] + [_row(p, "warning") for p in warned]
        typer.echo(json.dumps(rows, indent=2))
    return 1 if found else 0


def _row(problem: RunbookProblem, level: str) -> dict[str, Any]:
    return {
        "file": problem.path,
        "line": problem.line,
        "col": problem.col,
        "message": problem.message,
        "level": level,
    }


@app.command()
def validate(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Runbook files, directories or names (default: the catalogue)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check runbooks without starting anything: exit 0 when all are valid, 1 otherwise."""
    raise typer.Exit(validate_paths(paths or [], as_json=as_json))


def _summary(path: Path, rb: Runbook) -> dict[str, Any]:
    phases = {p: sum(1 for s in rb.steps if s.phase == p) for p in (*PHASE_ORDER, "communicate")}
    return {
        "name": rb.name,
        "title": rb.title,
        "match": rb.match,
        "severity": rb.severity,
        "steps": {p: n for p, n in phases.items() if n},
        "path": str(path),
    }


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """The runbooks warroom can find: name, title, match, steps per phase, where found."""
    rows, broken, names = [], [], set()
    for path, rb in catalogue():
        if isinstance(rb, RunbookError):
            broken.append(f"{path}: invalid (`warroom runbooks validate {path}` says why)")
        elif rb.name not in names:  # an earlier directory shadows a later one
            names.add(rb.name)
            rows.append(_summary(path, rb))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            match = ", ".join(f"{k}{_op(v)}" for k, v in row["match"].items()) or "-"
            steps = " ".join(f"{p}:{n}" for p, n in row["steps"].items())
            typer.echo(f"{row['name']:<24} {row['title']}\n{'':<24} match {match}; {steps}")
            typer.echo(f"{'':<24} {row['path']}")
    for line in broken:
        typer.echo(line, err=True)


def _op(spec: str) -> str:
    return spec if spec[:2] in ("=~", "!~", "!=") or spec[:1] == "=" else f"={spec}"


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Runbook name or path.")], as_json: JsonFlag = False
) -> None:
    """The parsed runbook, defaults filled in, as the workflow receives it."""
    try:
        rb = load_runbook(name)
    except WarroomError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(rb.model_dump_json(indent=2, by_alias=True))
    else:
        data = rb.model_dump(mode="json", by_alias=True)
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


@app.command()
def schema() -> None:
    """JSON Schema of runbooks, for yaml-language-server (`# yaml-language-server: $schema=…`)."""
    typer.echo(json.dumps(runbook_json_schema(), indent=2))
