"""The Makefile says what it is doing before the long, silent first install."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import ROOT


def test_first_install_says_what_is_happening_before_pip_runs(tmp_path):
    make = shutil.which("make")
    assert make, "make is not installed"
    # A dry run against a venv that does not exist yet: make lists what the first `make demo`
    # would run, in order.
    plan = subprocess.run(
        [make, "-n", "-C", str(ROOT), "install", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    said = next(i for i, line in enumerate(plan) if "installing warroom" in line)
    pip = next(i for i, line in enumerate(plan) if "pip install" in line)
    assert said < pip and "about a minute" in plan[said]
