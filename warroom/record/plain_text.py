"""The record as plain text for people (no colour, no terminal handling): the timeline as
aligned columns and `show`'s metrics lines, every value from people or peers escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from warroom.record.metrics import Metrics, duration_text
from warroom.record.timeline import TimelineEntry
from warroom.text import escape

TIMELINE_HEADER = ("TIME (UTC)", "+ELAPSED", "WHO", "EVENT", "STEP", "PHASE", "DETAIL")


def clock(at: datetime | None) -> str:
    return at.strftime("%H:%M:%S") if at else "-"


def table(raw: Sequence[tuple[str, ...]]) -> str:
    """Aligned columns, two spaces apart; the last column unpadded."""
    rows = [tuple(escape(cell) for cell in row) for row in raw]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ).rstrip()


def timeline_row(e: TimelineEntry) -> tuple[str, ...]:
    source = f"{e.source}, {e.authenticated}" if e.authenticated else e.source
    who = f"{e.actor} ({source})" if e.actor and e.source != "automation" else e.actor or ""
    elapsed = f"+{duration_text(e.elapsed)}"
    return (clock(e.time), elapsed, who or e.source, e.event, e.step or "", e.phase or "", e.detail)


def timeline_text(entries: list[TimelineEntry]) -> str:
    """The timeline under its header, one aligned row per entry."""
    return table([TIMELINE_HEADER, *(timeline_row(e) for e in entries)])


def metrics_lines(m: Metrics) -> list[str]:
    """`show`'s metrics: the times, waits, updates, alerts, retries and failures."""
    late = f" ({m.updates_late} late)" if m.updates_late else ""
    return [
        f"  metrics:  acknowledge {duration_text(m.time_to_acknowledge)}, mitigate "
        f"{duration_text(m.time_to_mitigate)}, resolve {duration_text(m.time_to_resolve)}; "
        f"waiting on people {duration_text(m.waiting_on_people)}",
        f"            {m.updates_sent} status updates sent{late}, {m.alerts_received} alerts, "
        f"{m.retries} retries ({m.retried_by_hand} by hand), failed steps: "
        f"{escape(', '.join(m.failed_steps)) or 'none'}",
    ]
