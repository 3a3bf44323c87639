"""`make demo` runs green: the main job end to end on a throwaway dev server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_resolves_the_incident_and_prints_the_timeline():
    exe = str(Path(sys.executable).parent / "warroom")
    done = subprocess.run([exe, "demo"], capture_output=True, text=True, timeout=240, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "dana-oncall approved rollback" in out
    assert "incident resolved: all steps done" in out
    assert "status update received:" in out
    timeline = out.split("timeline:", 1)[1]
    assert "dana-oncall (person)  approved              rollback" in timeline
    assert "closed: resolved" in timeline
    assert "OK: incident resolved, checkout at v2.4.0" in out
