"""Alert bookkeeping for IncidentWorkflow: alert notifications join the incident (each counted
once), and every alert resolving applies the runbook's `on_alert_resolved`.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

from temporalio import workflow

from warroom.contract.models import ALERTS_PER_SIGNAL, Alert, AlertState, Resolve
from workflows.context import IncidentContext


class Alerts:
    """The alerts of one incident run."""

    def __init__(self, incident: IncidentContext) -> None:
        self.incident = incident

    def take_many(self, alerts: list[Alert]) -> None:
        """A notification's alerts in one signal, each applied as `take` applies one; more than
        ALERTS_PER_SIGNAL is malformed: dropped."""
        if len(alerts) > ALERTS_PER_SIGNAL:
            workflow.logger.warning(
                f"alerts signal of {len(alerts)} alerts dropped: at most {ALERTS_PER_SIGNAL}"
            )
            return
        for alert in alerts:
            self.take(alert)

    def take(self, alert: Alert) -> None:
        """An alert notification joins the incident; the same notification twice counts once."""
        inc = self.incident
        s = inc.state
        s.alerts_received += 1
        if alert.dedup_key in inc.seen_alerts:
            s.alerts_duplicate += 1
            return
        inc.seen_alerts.add(alert.dedup_key)
        now = workflow.now()
        known = next((a for a in s.alerts if a.fingerprint == alert.fingerprint), None)
        if known is None:
            s.alerts.append(AlertState(**alert.model_dump(), first_seen=now, last_seen=now))
            inc.since_update.append(f"alert {alert.fingerprint} {alert.status}")
        else:
            refired = known.status == "resolved" and alert.status == "firing"
            known.status, known.last_seen = alert.status, now
            known.notifications += 1
            known.ends_at = alert.ends_at
            if refired:
                inc.record("alert re-fired", detail=alert.fingerprint)
            inc.since_update.append(f"alert {alert.fingerprint} {alert.status}")
        if alert.status == "resolved" and s.alerts and not s.firing_alerts and not s.is_closed:
            self._all_alerts_resolved()

    def _all_alerts_resolved(self) -> None:
        inc = self.incident
        policy = inc.runbook.on_alert_resolved
        mitigation_ran = any(
            st.phase == "mitigate" and st.status in ("running", "succeeded", "failed")
            for st in inc.state.steps
        )
        inc.record("alerts resolved", detail=f"every alert resolved; on_alert_resolved: {policy}")
        if policy == "resolve" and inc.resolve is None and inc.abort is None:
            inc.resolve = Resolve(by="alerts", comment="every alert resolved")
        elif policy == "skip_mitigation" and not mitigation_ran:
            inc.skip_mitigation = True
