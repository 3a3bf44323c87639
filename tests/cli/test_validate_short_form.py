"""`warroom validate` is the short form of `warroom runbooks validate`: the same options
(`--json` included), the same default (the catalogue), the same output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "runbook_corpus"
BROKEN = str(CORPUS / "58-several-problems.yaml")


def warroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warroom.entry.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WARROOM_RUNBOOKS": ""},
    )


@pytest.mark.parametrize(
    "args",
    [["--json", BROKEN], [BROKEN, "--json"], [BROKEN], ["--json"], []],
    ids=["json-first", "json-last", "text", "catalogue-json", "catalogue"],
)
def test_the_short_form_is_the_long_form(args: list[str]):
    short = warroom("validate", *args)
    long = warroom("runbooks", "validate", *args)
    assert (short.returncode, short.stdout, short.stderr) == (
        long.returncode,
        long.stdout,
        long.stderr,
    )
    assert short.returncode == (1 if BROKEN in args else 0), short.stderr


def test_validate_json_gives_one_object_per_problem():
    done = warroom("validate", "--json", BROKEN)
    assert done.returncode == 1
    problems = json.loads(done.stdout)
    assert [(p["file"], p["line"], p["col"]) for p in problems] == [
        (BROKEN, 6, 13),
        (BROKEN, 11, 17),
        (BROKEN, 11, 59),
        (BROKEN, 12, 14),
    ]
    assert "did you mean 'http.request'?" in problems[0]["message"]
