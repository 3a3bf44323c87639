"""`make demo` runs green: an Alertmanager-format notification posted to the API opens the
incident, the resolved one reaches it, on a throwaway dev server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_opens_the_incident_from_an_alert_resolves_it_and_prints_the_timeline():
    exe = str(Path(sys.executable).parent / "warroom")
    done = subprocess.run([exe, "demo"], capture_output=True, text=True, timeout=240, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert (
        "Alertmanager-format notification DemoCheckoutErrorRate firing → POST http://127.0.0.1:"
        in out
    )
    assert "opened inc-alert-" in out and "on runbook demo-checkout" in out
    assert re.search(r"on call for sre-primary: (dana-oncall|sre-lead|carol) ", out)
    assert (
        "the same notification again (an Alertmanager retry): joined, same incident (the API "
        "stored it moments ago: not sent to Temporal again)" in out
    )
    assert "dana-oncall approved rollback" in out
    assert (
        "DemoCheckoutErrorRate resolved (rolled back) → POST" in out
        and ": joined inc-alert-" in out
    )
    assert "incident resolved: all steps done" in out
    assert "status update received:" in out
    timeline = out.split("timeline:", 1)[1]
    assert re.search(r"alertmanager \(alert\) +declared ", timeline)
    assert timeline.count("alert received") == 1 and "alert repeated" not in timeline
    assert "alert resolved" in timeline and "alerts resolved" in timeline
    assert re.search(r"dana-oncall \(person\) +approved +rollback ", timeline)
    assert "postmortem written" in timeline
    # nobody acknowledged within 2 s: the policy paged whoever is on call, by their webhook
    on_call = re.search(r"on call for sre-primary: ([a-z-]+) ", out)
    assert on_call and re.search(
        rf"paged +mitigate +level 1: {on_call.group(1)} by webhook \(on call for sre-primary\)",
        timeline,
    )
    assert "page received: [SEV2] Checkout 5xx spike after deploy: escalation level 1" in out
    assert "closed: resolved" in timeline
    assert "OK: incident resolved, checkout at v2.4.0" in out and "alert resolved" in out
    # Where the record went: the archive in the demo's data dir, at the newest schema.
    assert re.search(
        r"record of inc-alert-\S+ archived in sqlite:////\S+/archive\.db \(schema 0002", out
    )
