"""`warroom rehearse`: play a runbook's scenarios on Temporal's time-skipping test server and
check their expectations (exit 0 when all hold, 1 otherwise)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from warroom.contract.names import InvalidArgument
from warroom.errors import RunbookError, RunbookProblem
from warroom.language.loader import find_runbook, load_runbook_file
from warroom.rehearsal import runner
from warroom.rehearsal.coverage import coverage
from warroom.rehearsal.report import coverage_json, coverage_text, rehearsal_json, rehearsal_text
from warroom.rehearsal.runner import Loaded, Rehearsal, all_scenarios, time_skipping_server
from warroom.rehearsal.scenario import scenarios_of


def rehearse(
    runbook: Annotated[
        str | None, typer.Argument(help="Runbook name or path (not with --all).")
    ] = None,
    scenario: Annotated[
        list[Path] | None,
        typer.Option(
            "--scenario", help="A scenario file (repeatable); default: all of the runbook's."
        ),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every scenario of every runbook.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Rehearse a runbook: run its scenarios end to end in virtual time, check expectations."""
    loaded = _load(_plan(runbook, scenario or [], every))
    total = len(loaded)
    typer.echo(
        f"rehearsing {total} scenario{'s' * (total != 1)} on the time-skipping server …", err=True
    )
    # Failures the scenario asked for are in the report; the worker's log lines would repeat them.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    results = asyncio.run(_play(loaded))
    by_runbook: dict[str, list[Rehearsal]] = {}
    for done in results:
        by_runbook.setdefault(done.runbook.name, []).append(done)
    covered = [coverage(group[0].runbook, group) for group in by_runbook.values()]
    if as_json:
        payload = {
            "passed": all(r.passed for r in results),
            "rehearsals": [rehearsal_json(r) for r in results],
            "coverage": [coverage_json(c) for c in covered],
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        typer.echo("\n\n".join(rehearsal_text(r) for r in results))
        typer.echo("")
        for cov in covered:
            typer.echo(coverage_text(cov))
        failed = sum(not r.passed for r in results)
        typer.echo(f"{len(results) - failed} passed, {failed} failed")
    raise typer.Exit(0 if all(r.passed for r in results) else 1)


def _plan(runbook: str | None, scenarios: list[Path], every: bool) -> dict[Path, list[Path]]:
    """Which scenario files to play, per runbook file."""
    if every:
        if runbook or scenarios:
            raise InvalidArgument("--all rehearses everything: give no runbook or --scenario")
        plan = all_scenarios()
        if not plan:
            raise InvalidArgument("no scenarios found (runbooks/scenarios/<runbook>/*.yaml)")
        return plan
    if runbook is None:
        raise InvalidArgument("name a runbook (or pass --all)")
    path = find_runbook(runbook)
    files = scenarios or scenarios_of(path, load_runbook_file(path).name)
    if not files:
        raise InvalidArgument(
            f"runbook {runbook!r} has no scenarios: write one in "
            f"{path.parent / 'scenarios' / path.stem}/ or pass --scenario FILE"
        )
    return {path: files}


def _load(plan: dict[Path, list[Path]]) -> list[Loaded]:
    """Every scenario of the plan read and checked against its runbook before anything plays:
    the problems of all of them at once."""
    loaded: list[Loaded] = []
    problems: list[RunbookProblem] = []
    for runbook, files in plan.items():
        for file in files:
            try:
                loaded.append(Loaded(str(file), *runner.load(file, runbook)))
            except RunbookError as exc:
                if not exc.problems:
                    raise
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise RunbookError.of(problems)
    return loaded


async def _play(loaded: list[Loaded]) -> list[Rehearsal]:
    async with time_skipping_server() as env:
        return [
            await runner.rehearse(env, one.runbook, one.scenario, teams=one.teams, name=one.name)
            for one in loaded
        ]
