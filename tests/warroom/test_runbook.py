"""Runbook language: every shipped runbook validates; malformed ones are refused with file, line
and a fix; durations read and write the runbook notation."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from warroom.durations import format_duration, parse_duration
from warroom.errors import RunbookError
from warroom.runbook import RETRY_POLICIES, Runbook
from warroom.runbook_loader import SHIPPED_RUNBOOKS, load_runbook, parse_runbook

SHIPPED = sorted(SHIPPED_RUNBOOKS.glob("*.yaml"))


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


#: The first lines most malformed cases share (3 lines; STEP_A adds 3 more: the next is line 7).
HEAD = """\
name: t
title: T
steps:
"""
STEP_A = (
    HEAD
    + """\
  - id: a
    phase: triage
    action: http.request
"""
)

GOOD_STEP = """\
  - id: a
    phase: triage
    action: http.request
    with: {url: "https://x.example/a"}
"""

MALFORMED = {
    "unknown-key": (
        STEP_A
        + """\
    aproval: {approvers: [alice]}
    with: {url: "https://x.example/a"}
""",
        7,
        ["steps[0].aproval", "unknown key 'aproval'", "did you mean 'approval'?"],
    ),
    "unknown-top-level-key": (
        """\
name: t
title: T
severty: SEV1
steps:
"""
        + GOOD_STEP,
        3,
        ["unknown key 'severty'", "did you mean 'severity'?"],
    ),
    "unknown-action": (
        HEAD
        + """\
  - id: a
    phase: triage
    action: http.reqest
    with: {url: "https://x.example/a"}
""",
        6,
        ["unknown action 'http.reqest'", "did you mean 'http.request'?", "known actions:"],
    ),
    "unknown-with-param": (
        STEP_A
        + """\
    with:
      url: "https://x.example/a"
      methd: POST
""",
        9,
        ["has no parameter 'methd'", "did you mean 'method'?"],
    ),
    "missing-required-with-param": (
        STEP_A
        + """\
    with:
      method: GET
""",
        7,
        ["steps[0].with", "http.request needs 'url'", "add `url: ...` under `with`"],
    ),
    "duration-without-unit": (
        STEP_A
        + """\
    with: {url: "https://x.example/a"}
    timeout: 30
""",
        8,
        ["steps[0].timeout", "30 has no unit", "e.g. 30s or 30m"],
    ),
    "cadence-without-unit": (
        """\
name: t
title: T
cadence:
  SEV1: 15
steps:
"""
        + GOOD_STEP,
        4,
        ["cadence.SEV1", "15 has no unit"],
    ),
    "phases-out-of-order": (
        HEAD
        + """\
  - id: fix
    phase: mitigate
    action: http.request
    with: {url: "https://x.example/a"}
  - id: look
    phase: triage
    action: http.request
    with: {url: "https://x.example/b"}
""",
        9,
        [
            "step 'look' (phase triage) comes after a mitigate step",
            "triage → mitigate → verify → recover",
            "move it up or change its phase",
        ],
    ),
    "duplicate-step-id": (
        STEP_A
        + """\
    with: {url: "https://x.example/a"}
  - id: a
    phase: mitigate
    action: http.request
    with: {url: "https://x.example/b"}
""",
        8,
        ["step id 'a' is used twice", "give each step its own id"],
    ),
    "bad-template-syntax": (
        STEP_A
        + """\
    with:
      url: "{{ secret.API }"
""",
        8,
        ["steps[0].with.url", "template syntax error"],
    ),
    "bad-template-in-nested-json": (
        STEP_A
        + """\
    with:
      url: "https://x.example/a"
      json:
        reason: "{% if %}"
""",
        9,
        ["steps[0].with.json", "template syntax error"],
    ),
    "unknown-retry-policy": (
        STEP_A
        + """\
    with: {url: "https://x.example/a"}
    retry: forever
""",
        8,
        ["unknown retry policy 'forever'", "use one of default, none"],
    ),
    "retry-intervals-out-of-order": (
        STEP_A
        + """\
    with: {url: "https://x.example/a"}
    retry: {max_attempts: 5, initial_interval: 1h}
""",
        8,
        ["max_interval (1m) is shorter than initial_interval (1h)", "raise max_interval"],
    ),
    "bad-step-id": (
        HEAD
        + """\
  - id: Roll Back
    phase: triage
    action: http.request
    with: {url: "https://x.example/a"}
""",
        4,
        ["'Roll Back' is not a valid id", "lowercase letters, digits, - and _"],
    ),
    "update-target-without-text": (
        """\
name: t
title: T
updates:
  - action: http.request
    with: {url: "https://x.example/u"}
steps:
"""
        + GOOD_STEP,
        4,
        ["updates[0].action", "use webhook.post"],
    ),
    "not-yaml-tab-indent": (
        "name: t\ntitle: T\nsteps:\n\t- id: a\n",
        4,
        ["not valid YAML", "'\\t'"],
    ),
    "not-yaml-unclosed-bracket": (
        "name: t\ntitle: [T\nsteps: x\n",
        3,
        ["not valid YAML", "expected ',' or ']'"],
    ),
    "not-a-mapping": (
        "just a sentence about an incident\n",
        1,
        ["a runbook is a YAML mapping with name, title, severity and steps"],
    ),
}


@pytest.mark.parametrize(
    ("text", "line", "hints"), list(MALFORMED.values()), ids=list(MALFORMED.keys())
)
def test_malformed_runbook_is_refused_with_line_and_fix(text: str, line: int, hints: list[str]):
    with pytest.raises(RunbookError) as info:
        parse_runbook(text, "runbooks/bad.yaml")
    err = info.value
    assert err.path == "runbooks/bad.yaml"
    assert err.line == line, str(err)
    message = str(err)
    assert message.startswith(f"runbooks/bad.yaml:{line}: "), message
    for hint in hints:
        assert hint in message, f"{hint!r} not in {message!r}"


def test_every_problem_is_reported_each_with_its_line():
    text = (
        MALFORMED["unknown-action"][0]
        + """\
  - id: b
    phase: triage
    action: webhook.post
    with:
      url: "https://x.example/b"
"""
    )
    with pytest.raises(RunbookError) as info:
        parse_runbook(text, "rb.yaml")
    message = str(info.value)
    assert info.value.line == 6
    assert "unknown action 'http.reqest'" in message
    assert "\nrb.yaml:11: steps[1].with: webhook.post needs 'text'" in message


def test_load_runbook_reports_the_file_path(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: t\ntitle: T\nsteps:\n  - id: a\n    action: webhook.post\n    phase: later\n"
    )
    with pytest.raises(RunbookError) as info:
        load_runbook(str(path))
    assert info.value.path == str(path)
    message = str(info.value)
    assert message.startswith(f"{path}:6: steps[0].phase: Input should be 'triage'"), message


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
