"""The incident page's alert counts: every alert that joined is counted, even when only some
keep their labels (a storm is summarised)."""

from __future__ import annotations

from datetime import UTC, datetime

from warroom.console.pages import ROLES, SEVERITIES
from warroom.console.render import env
from warroom.contract.models import IncidentState


def state_html(**counts: int) -> str:
    state = IncidentState(
        incident_id="inc-alert-0123456789abcdef",
        title="Checkout 5xx",
        summary="storm",
        runbook="checkout-5xx",
        service="checkout",
        severity="SEV2",
        declared_by="alertmanager",
        started_at=datetime(2026, 12, 5, 1, 0, tzinfo=UTC),
        steps=[],
        **counts,
    )
    return env.get_template("_state.html").render(
        state=state,
        entries=[],
        due=None,
        temporal_ui=None,
        severities=SEVERITIES,
        roles=ROLES,
        csrf="token",
        me="dana",
    )


def test_a_summarised_storm_says_how_many_alerts_joined_and_how_many_are_summarised() -> None:
    html = " ".join(
        state_html(
            alerts_total=600,
            alerts_firing=550,
            alerts_summarised=300,
            alerts_received=1200,
            alerts_duplicate=600,
        ).split()
    )
    assert (
        "600 alerts (550 firing, 50 resolved, 300 summarised: counted, their labels not kept)"
        in html
    )
    assert "1200 notifications, 600 duplicate" in html


def test_no_alert_says_so() -> None:
    html = state_html()
    assert "No alert joined this incident." in html
    assert "alert-counts" not in html
