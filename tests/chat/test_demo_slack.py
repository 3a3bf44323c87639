"""`warroom demo --slack`: the demo incident with its room in the fake Slack, approved by a
signed click, the channel printed as a person sees it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_slack_approves_by_click_and_prints_the_channel() -> None:
    exe = str(Path(sys.executable).parent / "warroom")
    done = subprocess.run(
        [exe, "demo", "--slack"], capture_output=True, text=True, timeout=240, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"dana-oncall clicks Approve on rollback in Slack → HTTP 200 in \d+ ms", out)
    assert "rollback approved from Slack" in out
    timeline = out.split("timeline:", 1)[1].split("the incident's Slack channel:", 1)[0]
    assert re.search(r"dana-oncall \(person, slack\) +approved +rollback ", timeline)
    assert "chat room opened" in timeline and "slack.room" not in timeline
    channel = out.split("the incident's Slack channel:", 1)[1]
    assert re.search(r"#inc-\d{8}-demo-checkout-[a-z0-9]{6} \(archived\)", channel)
    assert "📌 (edited)" in channel and "*Status*\n   resolved" in channel
    assert "✅ *rollback*: approved by dana-oncall (1 of 1)" in channel
    assert "[Approve]" not in channel  # decided: no buttons left
    calls = re.search(r"Slack API calls: (\d+)", channel)
    assert calls is not None and int(calls.group(1)) < 40
    assert "OK: incident resolved" in out
