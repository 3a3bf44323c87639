"""Every action kind is registered with a strict parameter model, so a runbook that uses it is
checked at load: the new kinds validate in a runbook, and a misspelt argument is refused."""

from __future__ import annotations

import pytest

from activities import boundary
from activities.registry import ACTIVITIES
from warroom.errors import RunbookError
from warroom.language.actions import ACTION_PARAMS, BasicAuth, HttpRequestParams
from warroom.language.loader import parse_runbook
from warroom.language.workflow_actions import WORKFLOW_ACTIONS
from workflows.incident import HEARTBEATING

NEW_KINDS = {
    "http.wait": "{url: 'https://checkout.example/stats', condition: 'json.error_rate < 0.01', hold_for: 3}",
    "prometheus.query": "{query: 'sum(rate(http_requests_total[5m]))'}",
    "prometheus.wait": "{query: 'x', condition: '< 0.01', hold_for: 5m, timeout: 30m}",
    "exec": "{command: [kubectl, rollout, undo, deploy/checkout], timeout: 2m}",
    "slack.post": "{token: '{{ secret.SLACK_TOKEN }}', channel: C0INC, text: hi, severity: SEV1}",
    "pagerduty.event": "{event_action: trigger, routing_key: '{{ secret.PD }}', summary: s, source: w, severity: critical}",
    "statuspage.update": "{page_id: abc, api_key: '{{ secret.SP }}', name: n, status: investigating}",
    "email.send": "{host: smtp.example, from: a@example.com, to: [b@example.com], subject: s, text: t}",
    "webhook.post": "{url: 'https://hooks.example/x', text: hi, hmac_secret: '{{ secret.HOOK }}'}",
}


def runbook(action: str, with_: str) -> str:
    return (
        "name: actions\ntitle: Actions\nsteps:\n"
        f"  - id: s\n    phase: triage\n    action: {action}\n    with: {with_}\n"
    )


def test_every_activity_has_a_strict_parameter_model():
    names = {fn.__temporal_activity_definition.name for fn in ACTIVITIES}
    assert names | WORKFLOW_ACTIONS == set(ACTION_PARAMS)  # wait and note need no activity
    assert set(ACTION_PARAMS) - names == WORKFLOW_ACTIONS
    assert set(NEW_KINDS) <= names
    for model in ACTION_PARAMS.values():
        assert model.model_config.get("extra") == "forbid"


def test_an_activity_validates_with_its_kinds_model_from_the_language():
    # `action` refuses any other pairing, so every registered activity checks its parameters
    # with exactly the model the loader checked the runbook's `with:` against.
    with pytest.raises(TypeError, match="takes BasicAuth"):
        boundary.action("http.request", BasicAuth)
    with pytest.raises(TypeError, match="no such kind"):
        boundary.action("http.fetch", HttpRequestParams)


@pytest.mark.parametrize("action", sorted(NEW_KINDS))
def test_a_runbook_using_the_kind_validates(action: str):
    assert parse_runbook(runbook(action, NEW_KINDS[action])).steps[0].action == action


@pytest.mark.parametrize("action", sorted(NEW_KINDS))
def test_a_misspelt_argument_is_refused_at_load(action: str):
    with_ = NEW_KINDS[action].replace("{", "{tiemout: 5m, ", 1)
    with pytest.raises(RunbookError) as info:
        parse_runbook(runbook(action, with_))
    assert f"{action} has no parameter 'tiemout'" in str(info.value)


def test_the_workflow_knows_each_long_actions_default_timeout():
    # The workflow may not import activity modules (httpx fails its sandbox), so it keeps its
    # own table of the long actions' `timeout` defaults: it must match the models.
    assert {
        name: ACTION_PARAMS[name].model_fields["timeout"].default for name in HEARTBEATING
    } == HEARTBEATING
