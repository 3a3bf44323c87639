"""The archive's Alembic migrations ship in the package: a non-editable install, away from
the checkout, opens and migrates a fresh archive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.language.test_runbook_packaging import _clean_copy
from warroom.archive.store import SCHEMA_VERSION


def test_a_non_editable_install_migrates_a_fresh_archive(tmp_path: Path):
    source = _clean_copy(tmp_path / "src")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(source),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    for revision in ("0001_initial.py", "0002_search_and_report.py"):
        assert (target / "warroom/archive/migrations/versions" / revision).is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [
            sys.executable, "-c",
            "from warroom.archive.store import Archive; import sys;"
            "print(Archive(sys.argv[1]).schema_version())", f"sqlite:///{tmp_path / 'a.db'}",
        ],
        cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == SCHEMA_VERSION
