"""The broken-runbook corpus: every file in tests/runbook_corpus/ is refused by
`warroom runbooks validate` with exit 1, no traceback, and exactly the error lines of its
`.expected` sidecar (file:line:col: message)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warroom.entry.main import app

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "runbook_corpus"
CASES = sorted(p for p in CORPUS.glob("*.yaml") if p.name != "teams.yaml")


@pytest.fixture(autouse=True)
def _from_repo_root(monkeypatch):
    # Expected lines name the file as `tests/runbook_corpus/...`, relative to the checkout.
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("WARROOM_TEAMS", raising=False)


def test_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert all(p.with_suffix(".expected").is_file() for p in CASES)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_runbook_is_refused_with_its_exact_errors(path: Path):
    rel = str(path.relative_to(ROOT))
    result = CliRunner().invoke(app, ["runbooks", "validate", rel])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr + result.stdout
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    assert result.stderr.splitlines() == expected
    assert all(line.startswith(f"{rel}:") for line in expected)


def test_validate_json_gives_one_object_per_problem():
    rel = "tests/runbook_corpus/58-several-problems.yaml"
    result = CliRunner().invoke(app, ["runbooks", "validate", "--json", rel])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [(r["file"], r["line"], r["col"]) for r in rows] == [
        (rel, 6, 13),
        (rel, 11, 17),
        (rel, 11, 59),
        (rel, 12, 14),
    ]
    assert "unknown action 'http.reqest'" in rows[0]["message"]
    assert "steps.c: no such step" in rows[1]["message"]


def test_structural_errors_do_not_hide_the_others():
    # Seven mistakes, three of them structural: all seven in one run, in file order.
    rel = "tests/runbook_corpus/81-seven-mistakes.yaml"
    result = CliRunner().invoke(app, ["runbooks", "validate", "--json", rel])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    found = [(r["line"], r["message"].split(": ", 1)[1]) for r in rows]
    assert [(line, message[:30]) for line, message in found] == [
        (3, "unknown key 'severty' (did you"),  # top-level key
        (10, "unknown key 'retires' (did you"),  # step key
        (12, "Input should be 'triage', 'mit"),  # enum value
        (13, "steps.measure_impact: no such "),  # template
        (15, "http.request has no parameter "),  # `with:` param
        (16, "goto 'page-humans': no such st"),  # goto
        (21, "step id 'verify' is used twice"),  # duplicate id
    ]


def test_validate_directory_reports_every_broken_file_and_skips_teams_yaml():
    result = CliRunner().invoke(app, ["runbooks", "validate", "--json", "tests/runbook_corpus"])
    assert result.exit_code == 1
    files = {row["file"] for row in json.loads(result.stdout)}
    assert files == {str(p.relative_to(ROOT)) for p in CASES}


@pytest.mark.parametrize(
    "name", ["50-billion-laughs", "49-recursive-alias", "66-not-utf8", "51-deep-nesting"]
)
def test_real_process_refuses_hostile_file_without_traceback(name: str):
    rel = f"tests/runbook_corpus/{name}.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "warroom.entry.main", "runbooks", "validate", rel],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "WARROOM_TEAMS"},
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    expected = (CORPUS / f"{name}.expected").read_text(encoding="utf-8")
    assert done.stderr == expected
