"""The commands that tell an incident's story from its history: `timeline` (also live),
`postmortem` and `report`."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import typer
from temporalio.client import Client

from warroom.cli import render
from warroom.language.durations import format_duration, parse_duration
from warroom.record.metrics import duration_text
from warroom.record.plain_text import TIMELINE_HEADER
from warroom.record.postmortem import postmortem, timeline_markdown
from warroom.record.report import Report, incidents_report
from warroom.record.timeline import follow, story, timeline
from warroom.text import escape


async def show_timeline(client: Client, incident_id: str, fmt: str, live: bool) -> None:
    """Print the timeline as `fmt` (text, json, markdown); `live` goes on until it ends."""
    if not live:
        entries = await timeline(client, incident_id)
        if fmt == "json":
            typer.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        elif fmt == "markdown":
            typer.echo(timeline_markdown(entries))
        else:
            typer.echo(render.timeline_text(entries, colour=sys.stdout.isatty()))
        return
    # Live: one line (or one JSON object per line) per entry as it happens.
    colour = sys.stdout.isatty() and fmt == "text"
    if fmt == "text":
        typer.echo("  ".join(TIMELINE_HEADER))
    async for entry in follow(client, incident_id):
        if fmt == "json":
            typer.echo(entry.model_dump_json())
        elif fmt == "markdown":
            typer.echo(timeline_markdown([entry]).splitlines()[-1])
        else:
            typer.echo(render.timeline_text([entry], colour=colour).split("\n", 1)[1])


async def postmortem_draft(client: Client, incident_id: str) -> str:
    return postmortem(await story(client, incident_id))


def write_postmortem(draft: str, incident_id: str, output: Path | None) -> None:
    if output is None:
        typer.echo(draft)
        return
    output.write_text(draft, encoding="utf-8")
    typer.echo(f"postmortem draft of {escape(incident_id)} written to {escape(output)}")


def since(value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a duration like 30d, 12h or 90m") from exc


async def show_report(client: Client, window: timedelta, as_json: bool) -> None:
    typer.echo(
        f"reading incidents of the last {format_duration(window)}"
        " (the archive's, then the others' histories) …",
        err=True,
    )
    found = await incidents_report(client, window)
    typer.echo(found.model_dump_json(indent=2) if as_json else report_text(found))


def report_text(r: Report) -> str:
    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{escape(k)} {v}" for k, v in values.items()) or "none"

    lines = [
        f"{r.incidents} incidents since {r.since:%Y-%m-%d %H:%M} UTC",
        f"  by severity: {counts(r.by_severity)}",
        f"  by runbook:  {counts(r.by_runbook)}",
        f"  by service:  {counts(r.by_service)}",
    ]
    for name, s in r.time_to.items():
        lines.append(
            f"  time to {name:<11} median {duration_text(s.median)}, p90 {duration_text(s.p90)}"
            f" ({s.incidents} incidents)"
        )
    lines.append(f"  steps that fail most: {counts(r.failing_steps)}")
    lines.append(f"  runbooks that most often needed a person: {counts(r.needed_a_person)}")
    return "\n".join(lines)
