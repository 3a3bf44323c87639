"""The intake's ids and labels, without a server: an alert group's incident id depends on the
group alone; the older ids are recognised (and ids declared by hand are not); the service label."""

from __future__ import annotations

from warroom.intake.delivery import (
    GROUP_ID_PREFIX,
    LEGACY_ID,
    group_digest,
    incident_id_for,
    legacy_incident_id,
    service_label,
)


def test_a_groups_incident_id_depends_on_the_group_alone():
    one = incident_id_for("alertmanager", '{}:{alertname="A"}')
    assert one == incident_id_for("alertmanager", '{}:{alertname="A"}')
    assert one.startswith(GROUP_ID_PREFIX) and len(one) == len(GROUP_ID_PREFIX) + 16
    assert one != incident_id_for("grafana", '{}:{alertname="A"}')  # the source too
    assert one != incident_id_for("alertmanager", '{}:{alertname="B"}')


def test_older_ids_are_recognised_by_their_group_and_nothing_else_is():
    key = '{}:{alertname="A"}'
    older = legacy_incident_id("checkout-5xx", "alertmanager", key)
    assert older == f"inc-checkout-5xx-{group_digest('alertmanager', key)}"
    match = LEGACY_ID.match(older)
    assert match is not None and match["digest"] == group_digest("alertmanager", key)
    for other in (
        "inc-checkout-5xx-20261125-101500-3f9a1c07be",  # declared by hand
        "inc-checkout-5xx-rehearsal-3f9a1c07be",  # a rehearsal
        "inc-test-6edfbcc7e851",
    ):
        assert LEGACY_ID.match(other) is None, other


def test_the_service_label_is_taken_when_it_fits_a_search_attribute():
    assert service_label({"service": "billing"}) == "billing"
    assert service_label({}) is None and service_label({"service": ""}) is None
    assert service_label({"service": "x" * 201}) is None
    assert service_label({"service": "two\nlines"}) is None
