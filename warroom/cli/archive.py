"""The archive's commands: `warroom search` (the archive and open incidents) and
`warroom archive backfill` (closed incidents Temporal has and the archive lacks)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from warroom.archive.store import ARCHIVE_URL, configured
from warroom.cli import story
from warroom.contract.client import connect
from warroom.errors import WarroomError
from warroom.incidents import archived
from warroom.incidents.views import IncidentSummary
from warroom.language.durations import format_duration
from warroom.record.archiver import backfill as backfill_archive
from warroom.record.plain_text import table
from warroom.text import escape

app = typer.Typer(help="The incident archive (WARROOM_ARCHIVE_URL).", no_args_is_help=True)

Since = Annotated[str, typer.Option("--since", help="How far back: 90d, 12h.")]


def search(
    text: Annotated[str, typer.Argument(help="Words to find (every one must be there).")],
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    runbook: Annotated[str | None, typer.Option("--runbook", help="Only this runbook.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only incidents declared this recently: 90d.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Find incidents: archived ones by title, summary, notes and comments (full text, words
    stemmed), and open ones in Temporal by title and summary; open ones first, then newest."""
    window = story.since(since) if since is not None else None

    async def go() -> list[IncidentSummary]:
        return await archived.search(
            await connect(), text, service=service, runbook=runbook, since=window, limit=limit
        )

    found = asyncio.run(go())
    if as_json:
        typer.echo(json.dumps([f.model_dump(mode="json") for f in found], indent=2))
    else:
        typer.echo(search_text(found))


def search_text(found: list[IncidentSummary]) -> str:
    if not found:
        return "no incident matches"
    rows = [("INCIDENT", "STATUS", "SEV", "SERVICE", "DECLARED (UTC)", "FROM", "TITLE")]
    for inc in found:
        declared = inc.started_at.strftime("%Y-%m-%d %H:%M") if inc.started_at else "-"
        where = "archive" if inc.execution_status == "archived" else "temporal"
        rows.append(
            (inc.incident_id, inc.status, inc.severity, inc.service, declared, where, inc.title)
        )
    return table(rows)


@app.command()
def backfill(
    since: Since = "30d",
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Archive again those already archived too, rebuilt from Temporal's histories "
            "(records stored by an older warroom take what this one stores).",
        ),
    ] = False,
) -> None:
    """Archive the incidents closed in the last --since that Temporal still has and the
    archive lacks (after an upgrade, or after the archive was down). Running it again
    archives nothing twice (--again: rebuilds every one, each still once)."""
    archive = configured()
    if archive is None:
        raise WarroomError(f"{ARCHIVE_URL} is not set: there is no archive to fill")
    window = story.since(since)

    def progress(done: int, total: int, incident_id: str) -> None:
        typer.echo(f"archiving {done}/{total}: {escape(incident_id)} …", err=True)

    async def go() -> list[str]:
        return await backfill_archive(await connect(), archive, window, progress, again=again)

    filled = asyncio.run(go())
    typer.echo(
        f"{len(filled)} incidents closed in the last {format_duration(window)} archived"
        f" in {escape(archive.where)}"
    )
