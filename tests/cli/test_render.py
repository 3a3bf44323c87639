"""Human-facing renderings: text from people and remote peers can neither repaint the terminal
nor forge rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from warroom.cli import render
from warroom.contract.models import IncidentState, StepState
from warroom.incidents.views import IncidentSummary
from warroom.record.timeline import TimelineEntry
from warroom.text import escape

HOSTILE = "ok\x1b[31m\x1b]0;pwned\x07\r\n12:00:00    approved    fix    mallory\x7f\x9b\u202e\udcff"
# Anything a terminal acts on: C0 but the row separator, DEL, C1, bidi overrides, surrogates.
ACTIVE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def assert_inert(text: str, rows: int) -> None:
    assert not ACTIVE.search(text), text
    assert len(text.splitlines()) == rows, text  # no forged rows
    assert not any(line.startswith("12:00:00    approved") for line in text.splitlines())
    assert "\\x1b[31m" in text and "\\n12:00:00" in text


def test_escape_covers_c0_del_c1_bidi_and_surrogates():
    assert escape("a\x1b[31mb\nc\td\x7f\x85\u202e\udcff") == (
        "a\\x1b[31mb\\nc\\td\\x7f\\x85\\u202e\\udcff"
    )
    assert escape("dana-oncall — ✓ ünïcode") == "dana-oncall — ✓ ünïcode"


def test_incident_text_escapes_every_field():
    step = StepState(
        id="fix",
        phase="mitigate",
        action="http.request",
        status="failed",
        attempts=2,
        decided_by=HOSTILE,
        error=HOSTILE,
    )
    waiting = StepState(
        id="other", phase="verify", action="http.request", status="awaiting_approval",
        approvers=[HOSTILE],
    )  # fmt: skip
    state = IncidentState(
        incident_id="inc-x",
        title=HOSTILE,
        summary=HOSTILE,
        runbook="rb",
        service=HOSTILE,
        severity="SEV1",
        status="paused",
        declared_by=HOSTILE,
        started_at=NOW,
        outcome=HOSTILE,
        steps=[step, waiting],
    )
    text = render.incident_text(state)
    # header (with milestones, time to, roles), 2 steps, the paused hint (no approve hint: a
    # paused incident waits for no approval)
    assert_inert(text, rows=9 + 2 + 1)
    assert_inert(render.step_line(step), rows=1)


def test_timeline_and_list_escape_every_cell():
    entries = [
        TimelineEntry(
            time=NOW, event="approve signal", step=HOSTILE, actor=HOSTILE, detail=HOSTILE
        ),
        TimelineEntry(time=NOW, event=HOSTILE, detail="fine"),
    ]
    assert_inert(render.timeline_text(entries), rows=3)
    listed = [
        IncidentSummary(
            incident_id=HOSTILE, status=HOSTILE, severity="SEV1", phase=HOSTILE,
            runbook=HOSTILE, service="s", started_at=NOW, closed_at=None,
        )
    ]  # fmt: skip
    assert_inert(render.list_text(listed), rows=2)
