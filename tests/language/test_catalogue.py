"""Routing an alert to a runbook: most matchers wins, then most exact matchers, then the name;
unmatched alerts and labels that do not fit the winner's params open the fallback."""

from __future__ import annotations

import pytest

from warroom.errors import WarroomError
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook


def rb(name: str, match: str, extra: str = "") -> Entry:
    return Entry(
        parse_runbook(
            f"name: {name}\ntitle: {name}\nmatch: {match}\n{extra}"
            "steps: [{id: s, phase: triage, action: note, with: {text: x}}]\n"
        )
    )


FALLBACK = rb("fallback", "{}")


def route(labels, *entries, fallback="fallback"):
    return Catalogue([*entries, FALLBACK], fallback).route(labels)


def test_the_runbook_with_the_most_matchers_wins_whatever_the_order():
    broad = rb("broad", "{alertname: A}")
    narrow = rb("narrow", "{alertname: A, service: checkout}")
    labels = {"alertname": "A", "service": "checkout"}
    assert route(labels, broad, narrow).runbook.name == "narrow"
    assert route(labels, narrow, broad).runbook.name == "narrow"
    assert route({"alertname": "A", "service": "orders"}, broad, narrow).runbook.name == "broad"


def test_a_tie_goes_to_more_exact_matchers_then_to_the_name_that_sorts_first():
    regex = rb("aaa-regex", '{alertname: A, env: "=~prod.*"}')
    exact = rb("zzz-exact", "{alertname: A, env: prod}")
    labels = {"alertname": "A", "env": "prod"}
    assert route(labels, regex, exact).runbook.name == "zzz-exact"
    twin = rb("mmm-exact", "{alertname: A, env: prod}")
    assert route(labels, exact, twin).runbook.name == "mmm-exact"
    assert route(labels, twin, exact).runbook.name == "mmm-exact"


def test_an_alert_that_matches_nothing_opens_the_fallback():
    chosen = route({"alertname": "Other"}, rb("a", "{alertname: A}"))
    assert chosen.runbook.name == "fallback" and chosen.fallback_reason == "no runbook matches"


PARAMS = "params:\n  replicas: {type: int, required: true}\n  zone: {type: string, default: z1}\n"


def test_labels_named_like_params_supply_them_and_others_do_not():
    scaled = rb("scaled", "{alertname: A}", PARAMS)
    chosen = route({"alertname": "A", "replicas": "3", "other": "x"}, scaled)
    assert chosen.runbook.name == "scaled"
    assert chosen.params == {"replicas": 3, "zone": "z1"}


@pytest.mark.parametrize("labels", [{"alertname": "A"}, {"alertname": "A", "replicas": "many"}])
def test_labels_that_do_not_fit_the_params_open_the_fallback_saying_why(labels):
    chosen = route(labels, rb("scaled", "{alertname: A}", PARAMS))
    assert chosen.runbook.name == "fallback"
    assert chosen.fallback_reason is not None
    assert chosen.fallback_reason.startswith("runbook scaled matches but its params do not fit:")
    assert "replicas" in chosen.fallback_reason


def test_a_missing_or_unusable_fallback_is_refused_at_start():
    with pytest.raises(WarroomError, match="fallback runbook 'nope' not found"):
        Catalogue([FALLBACK], "nope")
    needy = rb("needy", "{}", PARAMS)
    with pytest.raises(WarroomError, match="fallback runbook 'needy' has required params"):
        Catalogue([needy], "needy")


def test_the_shipped_catalogue_routes_the_captured_alertmanager_group_to_checkout_5xx():
    catalogue = Catalogue.load()
    assert catalogue.fallback == "general"
    labels = {"alertname": "CheckoutHighErrorRate", "service": "checkout", "severity": "critical"}
    assert catalogue.route(labels).runbook.name == "checkout-5xx"
    assert catalogue.route({"alertname": "DemoCheckoutErrorRate"}).runbook.name == "demo-checkout"
