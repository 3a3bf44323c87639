"""`warroom demo --encrypt` runs the demo incident encrypted, green, and says that Temporal
stores none of its title or summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a whole demo: about 12 s


def test_the_demo_runs_encrypted() -> None:
    exe = str(Path(sys.executable).parent / "warroom")
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_CODEC_KEYS"}
    done = subprocess.run(
        [exe, "demo", "--encrypt"], env=env, capture_output=True, text=True, timeout=240
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "payload encryption on: key k1" in out
    stored = re.search(r"Temporal stores (\d+) encrypted payloads and (\d+) plain ones", out)
    assert stored is not None and int(stored.group(1)) > 20, out
    assert "its title or summary in the stored bytes: nowhere" in out
    assert "codec server: http://127.0.0.1:" in out
    assert "OK: incident resolved" in out
    assert "Checkout 5xx spike after deploy" in out  # the timeline reads as ever
