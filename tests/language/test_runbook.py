"""Runbook language: every shipped runbook validates; malformed ones are refused with file, line
and a fix; durations read and write the runbook notation."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from warroom.errors import RunbookError
from warroom.language.durations import format_duration, parse_duration
from warroom.language.loader import SHIPPED_RUNBOOKS, load_runbook, parse_runbook, runbook_files
from warroom.language.runbook import RETRY_POLICIES, Runbook

SHIPPED = runbook_files(SHIPPED_RUNBOOKS)


def test_runbooks_are_shipped():
    assert SHIPPED, f"no runbooks in {SHIPPED_RUNBOOKS}"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_runbook_is_valid(path: Path):
    runbook = load_runbook(str(path))
    assert isinstance(runbook, Runbook)
    assert runbook.name == path.stem
    assert runbook.steps
    # Loading by name finds the same file.
    assert load_runbook(path.stem) == runbook


def test_load_runbook_by_unknown_name_lists_known_ones():
    with pytest.raises(RunbookError) as info:
        load_runbook("no-such-runbook")
    message = str(info.value)
    assert "no runbook named 'no-such-runbook'" in message
    for path in SHIPPED:
        assert path.stem in message


def test_valid_runbook_parses_with_defaults_and_named_retry():
    runbook = parse_runbook(
        """\
name: t
title: T
cadence: {SEV1: 5m}
steps:
  - id: a
    phase: triage
    action: http.request
    with: {url: "https://x.example/a"}
    retry: none
    timeout: 1m30s
  - id: b
    phase: mitigate
    approval: {approvers: [alice], timeout: 10m}
    action: http.request
    with: {method: POST, url: "https://x.example/b"}
""",
        "rb.yaml",
    )
    a, b = runbook.steps
    assert a.retry == RETRY_POLICIES["none"]
    assert a.timeout == timedelta(seconds=90)
    assert b.retry == RETRY_POLICIES["default"]
    assert b.approval is not None and b.approval.timeout == timedelta(minutes=10)
    assert runbook.cadence["SEV1"] == timedelta(minutes=5)
    assert runbook.cadence["SEV2"] == timedelta(hours=1)  # default cadence kept
    assert runbook.severity == "SEV2"
    assert runbook.service_name == "t"


def test_error_names_file_line_and_column_of_every_problem():
    text = """\
name: t
title: T
steps:
  - id: a
    phase: triage
    action: http.reqest
    with: {url: "https://x.example/a"}
  - id: b
    phase: triage
    action: webhook.post
    with:
      url: "https://x.example/b"
"""
    with pytest.raises(RunbookError) as info:
        parse_runbook(text, "rb.yaml")
    err = info.value
    assert (err.path, err.line) == ("rb.yaml", 6)
    assert [(p.line, p.col) for p in err.problems] == [(6, 13), (11, 5)]
    assert str(err).splitlines() == [
        "rb.yaml:6:13: step 'a' action: unknown action 'http.reqest' (did you mean "
        "'http.request'?); known actions: email.send, exec, http.request, http.wait, note, "
        "pagerduty.event, prometheus.query, prometheus.wait, slack.post, statuspage.update, "
        "wait, webhook.post",
        "rb.yaml:11:5: step 'b' with: webhook.post needs 'text': add `text: ...` under `with`",
    ]


def test_load_runbook_reports_the_file_path(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: t\ntitle: T\nsteps:\n  - id: a\n    action: webhook.post\n    phase: later\n"
    )
    with pytest.raises(RunbookError) as info:
        load_runbook(str(path))
    assert info.value.path == str(path)
    message = str(info.value)
    assert f"\n{path}:6:12: step 'a' phase: Input should be 'triage'" in message, message


# ---- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("45s", timedelta(seconds=45)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_duration_round_trip(text: str, value: timedelta):
    assert parse_duration(text) == value
    assert format_duration(value) == text
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    ("text", "normal"), [("90s", "1m30s"), ("90m", "1h30m"), ("1h 30m", "1h30m"), (" 5m ", "5m")]
)
def test_duration_normalises(text: str, normal: str):
    assert format_duration(parse_duration(text)) == normal


@pytest.mark.parametrize("text", ["30", "15 minutes", "m", "1.5h", "-5m", "", "h1"])
def test_duration_without_unit_is_refused_with_example(text: str):
    with pytest.raises(ValueError, match=re.escape("write a number with a unit, e.g. 30s, 15m")):
        parse_duration(text)


def test_zero_duration_is_refused():
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0s")
