"""`warroom show` on the incident lifecycle: milestones and the time to reach them, roles,
joined alerts, escalations, a quorum so far, notes and refused decisions — all escaped."""

from __future__ import annotations

from datetime import timedelta

from tests.cli.test_render import HOSTILE, NOW, assert_inert
from warroom.cli import render
from warroom.contract.models import (
    AlertState,
    DecisionRecord,
    Escalated,
    IncidentState,
    Milestones,
    StepState,
)


def state(**fields) -> IncidentState:
    base = {
        "incident_id": "inc-x", "title": "t", "summary": "s", "runbook": "rb", "service": "svc",
        "severity": "SEV2", "declared_by": "erin", "started_at": NOW,
        "steps": [StepState(id="fix", phase="mitigate", action="http.request")],
    }  # fmt: skip
    return IncidentState(**{**base, **fields})


def alert(n: int, status: str = "firing", **fields) -> AlertState:
    seen = NOW + timedelta(seconds=n)
    fields = {"labels": {"alertname": f"Alert{n}"}, **fields}
    return AlertState(
        fingerprint=f"fp-{n}", source="alertmanager", status=status,
        first_seen=seen, last_seen=seen, **fields,
    )  # fmt: skip


def test_milestones_show_the_time_to_acknowledge_mitigate_and_resolve():
    milestones = Milestones(
        declared=NOW,
        acknowledged=NOW + timedelta(seconds=19),
        mitigated=NOW + timedelta(minutes=2, seconds=5),
    )
    text = render.incident_text(state(milestones=milestones, roles={"commander": "dana"}))
    assert "milestones: acknowledged 12:00:19, mitigated 12:02:05, resolved -" in text
    assert "time to:  acknowledge 19s, mitigate 2m5s, resolve -" in text
    assert "roles:    commander dana" in text


def test_alerts_are_counted_and_only_the_latest_listed():
    alerts = [alert(n) for n in range(12)] + [alert(12, "resolved", notifications=3)]
    text = render.incident_text(state(alerts=alerts, alerts_received=20, alerts_duplicate=5))
    assert "alerts:   13 (12 firing, 1 resolved); 20 notifications, 5 duplicate" in text
    lines = text.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("  alerts:")))
    assert lines[first + 1].split() == [
        "resolved", "fp-12", "Alert12", "3x,", "first", "12:00:12,", "last", "12:00:12",
    ]  # fmt: skip
    assert "fp-3 " in text and "fp-2 " not in text  # the ten most recently seen
    assert "… and 3 more (warroom show ID --json)" in text


def test_escalations_quorum_notes_and_refusals_are_shown_escaped():
    waiting = StepState(
        id="fix", phase="mitigate", action="http.request", status="awaiting_approval",
        approvers=["alice", HOSTILE, "carol"], min_approvals=2, approved_by=[HOSTILE],
    )  # fmt: skip
    decisions = [
        DecisionRecord(kind="note", by=HOSTILE, at=NOW, via="signal", comment=HOSTILE),
        DecisionRecord(
            kind="approve",
            by="carol",
            at=NOW,
            via="signal",
            step="fix",
            refused=f"carol is not an approver {HOSTILE}",
        ),
    ]
    shown = state(
        status="awaiting_approval",
        steps=[waiting],
        decisions=decisions,
        roles={"ops": HOSTILE},
        alerts=[alert(1, labels={"alertname": HOSTILE})],
        escalations=[
            Escalated(level=1, at=NOW, reason=f"not acknowledged {HOSTILE}", delivered=False)
        ],
    )
    text = render.incident_text(shown)
    # header 9, alerts 2, escalation 1, step 1, approve hint 1, note 1, refusal 1
    assert_inert(text, rows=9 + 2 + 1 + 1 + 1 + 1 + 1)
    assert "1/2 approvals: ok\\x1b[31m" in text
    assert "escalated: level 1 at 12:00:00 UTC: not acknowledged ok" in text
    assert "(not delivered)" in text
    assert "refused 12:00:00 approve fix by carol (signal): carol is not an approver ok" in text
