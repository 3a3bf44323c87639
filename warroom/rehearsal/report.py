"""A rehearsal for people (text) and for tools (JSON): verdict, mismatches as a diff, the
timeline and the incident's metrics, and per runbook what its scenarios never exercised."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from warroom.language.durations import format_duration
from warroom.record.plain_text import metrics_lines, timeline_text
from warroom.rehearsal.coverage import Coverage
from warroom.rehearsal.runner import Rehearsal
from warroom.text import escape


def metrics(done: Rehearsal) -> dict[str, Any]:
    """The incident's numbers as `warroom show` has them, plus what only a rehearsal knows."""
    return {
        **done.metrics.model_dump(mode="json"),
        "action_attempts": len(done.calls),
        "decisions_refused": done.decisions_refused,
    }


def verdict(done: Rehearsal) -> str:
    took = format_duration(timedelta(seconds=round(done.virtual.total_seconds())))
    word = "PASS" if done.passed else "FAIL"
    return (
        f"{word} {escape(done.scenario)}: {done.state.status} after {took} of incident time, "
        f"rehearsed in {done.wall_seconds:.1f}s"
    )


def diff(done: Rehearsal) -> str:
    """The mismatches, one expected/got pair each."""
    lines = []
    for m in done.mismatches:
        lines += [
            f"  {escape(m.what)}:",
            f"    - expected {escape(m.expected)}",
            f"    + got      {escape(m.got)}",
        ]
    return "\n".join(lines)


def rehearsal_text(done: Rehearsal) -> str:
    refused = done.decisions_refused
    lines = [
        verdict(done),
        *([diff(done)] if done.mismatches else []),
        "  timeline:",
        *("    " + line for line in timeline_text(done.entries).splitlines()),
        *metrics_lines(done.metrics),
        f"            {len(done.calls)} action attempts, {done.metrics.escalations} "
        f"escalations, {refused} decisions refused",
    ]
    return "\n".join(lines)


def coverage_text(cov: Coverage) -> str:
    total = len(cov.items)
    done = total - len(cov.missed)
    head = f"coverage of {escape(cov.runbook)}: {done}/{total} exercised"
    if not cov.missed:
        return head
    return head + "; never rehearsed: " + ", ".join(escape(m) for m in cov.missed)


def rehearsal_json(done: Rehearsal) -> dict[str, Any]:
    return {
        "scenario": done.scenario,
        "runbook": done.runbook.name,
        "passed": done.passed,
        "status": done.state.status,
        "outcome": done.state.outcome,
        "incident_seconds": done.virtual.total_seconds(),
        "wall_seconds": round(done.wall_seconds, 3),
        "mismatches": [m.__dict__ for m in done.mismatches],
        "metrics": metrics(done),
        "steps": {s.id: {"status": s.status, "attempts": s.attempts} for s in done.state.steps},
        "calls": [
            {
                "name": c.name,
                "kind": c.kind,
                "attempt": c.attempt,
                "at": c.at.isoformat(),
                "outcome": c.outcome,
            }
            for c in done.calls
        ],
        "timeline": [e.model_dump(mode="json") for e in done.entries],
    }


def coverage_json(cov: Coverage) -> dict[str, Any]:
    return {"runbook": cov.runbook, "items": cov.items, "missed": cov.missed}


def assert_passed(done: Rehearsal) -> None:
    """For pytest: fail with the whole report (diff, timeline, metrics) unless it passed."""
    if not done.passed:
        raise AssertionError("\n" + rehearsal_text(done))
