"""Shipped runbooks are package data: a non-editable install, used away from the checkout,
still finds them by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: What a source distribution holds; copied so no stale build/ of the checkout is reused.
SOURCES = [
    "pyproject.toml",
    "README.md",
    "worker.py",
    "warroom",
    "workflows",
    "activities",
    "runbooks",
]


def _clean_copy(dest: Path) -> Path:
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def test_non_editable_install_finds_shipped_runbooks(tmp_path: Path):
    source = _clean_copy(tmp_path / "src")
    target = tmp_path / "site"
    # Offline and quick: the build backend comes from this venv (setuptools is a dev extra).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        timeout=120,
    )
    assert (target / "warroom" / "shipped_runbooks" / "demo-checkout.yaml").is_file()
    elsewhere = tmp_path / "elsewhere"  # no ./runbooks here
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("WARROOM_RUNBOOKS", None)

    def run(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    probe = (
        "import json, warroom\n"
        "from warroom.language.loader import load_runbook\n"
        "rb = load_runbook('demo-checkout')\n"
        "print(json.dumps({'module': warroom.__file__, 'name': rb.name}))\n"
    )
    found = run("-c", probe)
    assert found["module"].startswith(str(target))  # the installed copy, not the checkout
    assert found["name"] == "demo-checkout"
    paths = [row["path"] for row in run("-m", "warroom.entry.main", "runbooks", "list", "--json")]
    assert any(p.startswith(str(target)) and p.endswith("demo-checkout.yaml") for p in paths)
