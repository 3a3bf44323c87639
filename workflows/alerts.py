"""Alert bookkeeping for IncidentWorkflow: alert notifications join the incident (each counted
once), within the incident's alert budget, and every alert resolving applies the runbook's
`on_alert_resolved`.

The budget (runs that took patch `alert-budget`): every alert is counted and its state (firing
or resolved) tracked by a digest of its fingerprint, but only the first and the latest alerts to
join keep their labels in the state, within a byte budget; the others are summarised, and the
timeline says so. So the state that a status query returns and continue-as-new carries stays
under Temporal's payload limit whatever arrives. Older runs keep every alert whole.

Deterministic code only; passed through the workflow sandbox (imported once per worker).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from temporalio import workflow

from warroom.contract.models import (
    ALERTS_KEPT_BYTES,
    ALERTS_KEPT_FIRST,
    ALERTS_KEPT_LATEST,
    ALERTS_PER_SIGNAL,
    ALERTS_TRACKED_MOST,
    Alert,
    AlertState,
    IncidentInput,
    Resolve,
)
from workflows.context import SINCE_UPDATE_KEPT, IncidentContext

#: What continue-as-new may carry at most (the server refuses a payload over 2 MiB): alerts'
#: labels are summarised further until the new run's input fits.
CARRY_MOST_BYTES = 1536 * 1024


def alert_key(fingerprint: str) -> str:
    """The ledger's key for an alert: 48 bits of its fingerprint's digest (fingerprints may be
    512 characters long; the key is 12)."""
    return hashlib.blake2b(fingerprint.encode(), digest_size=6).hexdigest()


def alert_token(status: str, starts_at: str) -> str:
    """An alert's state in the ledger: "f" (firing) or "r" (resolved), and 24 bits of the digest
    of its starts_at, so that the same notification twice counts once."""
    mark = "f" if status == "firing" else "r"
    return mark + hashlib.blake2b(starts_at.encode(), digest_size=3).hexdigest()


def size_of_alert(alert: AlertState) -> int:
    return len(alert.model_dump_json().encode())


class Alerts:
    """The alerts of one incident run."""

    def __init__(self, incident: IncidentContext) -> None:
        self.incident = incident
        #: The kept alerts by fingerprint, the bytes each takes, and the bytes of each window.
        self.kept: dict[str, AlertState] = {}
        self.sizes: dict[str, int] = {}
        self.first_bytes = self.latest_bytes = self.latest_count = 0
        if incident.alert_ledger is not None:
            self._index()
        elif incident.budgets_alerts:
            self._migrate()

    @property
    def budgeted(self) -> bool:
        return self.incident.alert_ledger is not None

    # ---- signals --------------------------------------------------------------------------

    def take_many(self, alerts: list[Alert]) -> None:
        """A notification's alerts in one signal, each applied as `take` applies one; more than
        ALERTS_PER_SIGNAL is malformed: dropped."""
        if len(alerts) > ALERTS_PER_SIGNAL:
            workflow.logger.warning(
                f"alerts signal of {len(alerts)} alerts dropped: at most {ALERTS_PER_SIGNAL}"
            )
            return
        if not self.budgeted:
            for alert in alerts:
                self._take_whole(alert)
            return
        summarised, untracked = self.incident.state.alerts_summarised, 0
        for alert in alerts:
            untracked += self._take(alert)
        self._told(self.incident.state.alerts_summarised - summarised, untracked)

    def take(self, alert: Alert) -> None:
        """An alert notification joins the incident; the same notification twice counts once."""
        self.take_many([alert])

    # ---- within the budget -------------------------------------------------------------------

    def _take(self, alert: Alert) -> int:
        """Apply one alert within the budget; 1 when it is beyond the tracked alerts."""
        inc = self.incident
        s = inc.state
        ledger = inc.alert_ledger
        assert ledger is not None
        s.alerts_received += 1
        key = alert_key(alert.fingerprint)
        token = alert_token(alert.status, alert.dedup_key[2])
        last = ledger.get(key)
        # A repeat, or a firing notification older than the resolution already counted (an
        # alert that fires again starts anew: a new starts_at).
        if last is not None and (last == token or last == "r" + token[1:]):
            s.alerts_duplicate += 1
            return 0
        now = workflow.now()
        if last is None:
            if len(ledger) >= ALERTS_TRACKED_MOST:
                s.alerts_untracked += 1
                return 1
            ledger[key] = token
            s.alerts_total += 1
            s.alerts_firing += alert.status == "firing"
            joined = AlertState(
                **alert.model_dump(), first_seen=now, last_seen=now, ordinal=s.alerts_total
            )
            self._keep(joined)
        else:
            ledger[key] = token
            was_firing = last[0] == "f"
            s.alerts_firing += (alert.status == "firing") - was_firing
            known = self.kept.get(alert.fingerprint)
            if known is not None:
                known.status, known.last_seen = alert.status, now
                known.notifications += 1
                known.ends_at = alert.ends_at
                self._resize(known)
            if not was_firing and alert.status == "firing":
                inc.record("alert re-fired", detail=alert.fingerprint)
        inc.since_update.append(f"alert {alert.fingerprint} {alert.status}")
        del inc.since_update[:-SINCE_UPDATE_KEPT]
        if (
            alert.status == "resolved"
            and s.alerts_firing == 0
            and not s.alerts_untracked
            and not s.is_closed
        ):
            self._all_alerts_resolved()
        return 0

    def _keep(self, alert: AlertState) -> None:
        """Keep a new alert's labels if the budget allows: in the first window (never let go),
        within half the bytes, else in the latest window, which lets its oldest go to make room."""
        size = size_of_alert(alert)
        if is_first(alert):
            if self.first_bytes + size <= ALERTS_KEPT_BYTES // 2:
                self._add(alert, size)
            else:
                self.incident.state.alerts_summarised += 1
            return
        self._add(alert, size)
        self._make_room()

    def _make_room(self) -> None:
        """Let the oldest of the latest window go until both of its limits hold."""
        while self.latest_count and (
            self.latest_count > ALERTS_KEPT_LATEST
            or self.first_bytes + self.latest_bytes > ALERTS_KEPT_BYTES
        ):
            self._drop(self.oldest_latest)

    @property
    def oldest_latest(self) -> int:
        """Where the latest window starts in the state's alerts (they are in join order)."""
        return len(self.incident.state.alerts) - self.latest_count

    def _add(self, alert: AlertState, size: int) -> None:
        self.incident.state.alerts.append(alert)
        self.kept[alert.fingerprint] = alert
        self._sized(alert, size)

    def _sized(self, alert: AlertState, size: int) -> None:
        """Count `size` bytes for a kept alert (instead of what it took before)."""
        was = self.sizes.get(alert.fingerprint)
        if is_first(alert):
            self.first_bytes += size - (was or 0)
        else:
            self.latest_bytes += size - (was or 0)
            self.latest_count += was is None
        self.sizes[alert.fingerprint] = size

    def _drop(self, index: int) -> None:
        """Let a kept alert's labels go: it stays counted (and tracked in the ledger)."""
        s = self.incident.state
        alert = s.alerts.pop(index)
        del self.kept[alert.fingerprint]
        size = self.sizes.pop(alert.fingerprint)
        if is_first(alert):
            self.first_bytes -= size
        else:
            self.latest_bytes -= size
            self.latest_count -= 1
        s.alerts_summarised += 1

    def _resize(self, alert: AlertState) -> None:
        self._sized(alert, size_of_alert(alert))
        if not is_first(alert):
            self._make_room()

    def _told(self, summarised: int, untracked: int) -> None:
        """One timeline record per signal that summarised alerts: nothing acknowledged is
        dropped without a word."""
        if not summarised and not untracked:
            return
        s = self.incident.state
        parts = []
        if summarised:
            parts.append(
                f"{summarised} alert{'s' if summarised != 1 else ''} counted without their "
                f"labels; {s.alerts_total} alerts in all, {s.alerts_summarised} summarised "
                f"(the first {ALERTS_KEPT_FIRST} and the latest {ALERTS_KEPT_LATEST} keep "
                f"their labels, within {ALERTS_KEPT_BYTES // 1024} KiB)"
            )
        if untracked:
            parts.append(
                f"{untracked} notification{'s' if untracked != 1 else ''} about alerts beyond "
                f"the {ALERTS_TRACKED_MOST:,} tracked: counted only ({s.alerts_untracked} so "
                "far); a person resolves this incident"
            )
        self.incident.record("alerts summarised", detail="; ".join(parts))

    # ---- runs before the budget --------------------------------------------------------------

    def _take_whole(self, alert: Alert) -> None:
        """As runs before the alert budget applied an alert: every alert kept whole."""
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

    def _migrate(self) -> None:
        """Take the alerts of a run that kept them all into the budget (no command: a run
        that continues as new, or the first run of the budget after one that did not have it)."""
        inc = self.incident
        s = inc.state
        whole = list(s.alerts)
        inc.alert_ledger = {}
        for ordinal, alert in enumerate(whole, start=1):
            inc.alert_ledger[alert_key(alert.fingerprint)] = alert_token(
                alert.status, alert.starts_at.isoformat() if alert.starts_at else ""
            )
            alert.ordinal = alert.ordinal or ordinal
        inc.seen_alerts = set()
        s.alerts, s.alerts_summarised = [], 0
        self.kept, self.sizes = {}, {}
        self.first_bytes = self.latest_bytes = self.latest_count = 0
        s.alerts_total, s.alerts_firing = len(whole), sum(a.status == "firing" for a in whole)
        for alert in whole:
            self._keep(alert)

    def _index(self) -> None:
        for alert in self.incident.state.alerts:
            self.kept[alert.fingerprint] = alert
            self._sized(alert, size_of_alert(alert))

    # ---- continue-as-new ----------------------------------------------------------------------

    def fit(self, next_input: Callable[[], IncidentInput]) -> IncidentInput:
        """The new run's input, made to fit CARRY_MOST_BYTES: a run that kept every alert takes
        them into the budget first; then, while it is too large, the latest alerts (oldest
        first) and then the first ones (newest first) let their labels go, counted still."""
        if not self.budgeted:
            self._migrate()
        s = self.incident.state
        inp = next_input()
        while s.alerts and size_of_input(inp) > CARRY_MOST_BYTES:
            for _ in range(max(1, len(s.alerts) // 4)):
                self._drop(self.oldest_latest if self.latest_count else len(s.alerts) - 1)
                if not s.alerts:
                    break
            inp = next_input()
        return inp

    # ---- every alert resolved -----------------------------------------------------------------

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


def is_first(alert: AlertState) -> bool:
    """Whether the alert is one of the first to join (kept to the end) rather than a latest one."""
    return alert.ordinal is not None and alert.ordinal <= ALERTS_KEPT_FIRST


def size_of_input(inp: IncidentInput) -> int:
    return len(inp.model_dump_json().encode())
