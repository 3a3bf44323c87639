"""How long the timeline takes to read and render a 10,000-event history (in memory, no
server): `.venv/bin/python bench/timeline_render.py`. Prints the time, writes bench/results/."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from warroom.cli.render import timeline_text
from warroom.contract.converter import data_converter
from warroom.record.metrics import metrics
from warroom.record.postmortem import timeline_markdown
from warroom.record.timeline import _Reader

EVENTS = 10_000
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def history() -> list[HistoryEvent]:
    """A step's scheduled/started/completed triple and a note signal, over and over."""
    encode = data_converter().payload_converter.to_payloads
    events: list[HistoryEvent] = []
    start = HistoryEvent(event_id=1, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    start.workflow_execution_started_event_attributes.input.payloads.extend(
        encode([{"summary": "bench", "declared_by": "bench", "runbook": {"title": "Bench"}}])
    )
    events.append(start)
    n = 1
    while len(events) < EVENTS:
        n += 1
        scheduled = HistoryEvent(
            event_id=len(events) + 1, event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        )
        scheduled.activity_task_scheduled_event_attributes.activity_type.name = "http.request"
        scheduled.activity_task_scheduled_event_attributes.input.payloads.extend(
            encode([{"step": f"s{n}"}])
        )
        started = HistoryEvent(
            event_id=len(events) + 2, event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        )
        started.activity_task_started_event_attributes.scheduled_event_id = scheduled.event_id
        started.activity_task_started_event_attributes.attempt = 1
        done = HistoryEvent(
            event_id=len(events) + 3, event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        )
        done.activity_task_completed_event_attributes.scheduled_event_id = scheduled.event_id
        note = HistoryEvent(
            event_id=len(events) + 4, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        )
        note.workflow_execution_signaled_event_attributes.signal_name = "note"
        note.workflow_execution_signaled_event_attributes.input.payloads.extend(
            encode([{"by": "dana", "text": f"looked at {n}"}])
        )
        events += [scheduled, started, done, note]
    for i, event in enumerate(events):
        event.event_time.FromDatetime(T0 + timedelta(seconds=i))
    return events[:EVENTS]


class _Client:
    data_converter = data_converter()


async def main() -> None:
    events = history()
    began = time.perf_counter()
    reader = _Reader(_Client())  # type: ignore[arg-type]
    reader.next_run()
    for event in events:
        await reader.read(event)
    entries = reader.release()
    read = time.perf_counter() - began
    text = timeline_text(entries)
    markdown = timeline_markdown(entries)
    measured = metrics(entries)
    total = time.perf_counter() - began
    result = {
        "events": len(events),
        "entries": len(entries),
        "read_seconds": round(read, 3),
        "read_render_metrics_seconds": round(total, 3),
        "text_chars": len(text),
        "markdown_chars": len(markdown),
        "alerts": measured.alerts_received,
    }
    print(
        f"{len(events)} events -> {len(entries)} entries: read {read:.3f}s, "
        f"read + text + markdown + metrics {total:.3f}s"
    )
    out = Path(__file__).parent / "results" / "timeline_render.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
