"""The complete runbook language: every field parses and survives the workflow-input round trip;
template references, params, teams and matchers behave as documented; the reader's limits hold;
the `warroom runbooks` catalogue commands answer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warroom.contract.models import IncidentInput
from warroom.entry.main import app
from warroom.errors import ParamsError, RunbookError
from warroom.language.actions import ACTION_PARAMS
from warroom.language.loader import MAX_STEPS, load_runbook, parse_runbook
from warroom.language.params import coerce_params, parse_param_args
from warroom.language.runbook import Goto, Runbook
from warroom.language.teams import resolve_approvers
from warroom.language.template_refs import references, references_in, single_expression
from warroom.language.yaml_source import MAX_BYTES, MAX_NODES

FULL = """\
name: checkout-5xx
title: Checkout 5xx spike after deploy
description: Errors after a deploy; roll back.
owner: payments
tags: [checkout, deploy]
service: checkout
match: {alertname: CheckoutHighErrorRate, env: "!=dev", severity: "=~critical|page"}
severity: SEV2
severity_from: {label: severity, map: {critical: SEV1, page: SEV1, warning: SEV3}}
cadence: {SEV1: 15m}
escalation:
  acknowledge_within: 5m
  levels:
    - notify: [{action: webhook.post, with: {url: "https://hooks.example/oncall"}}]
    - {wait: 10m, notify: [{action: webhook.post, with: {url: "https://hooks.example/lead"}}]}
updates:
  - {action: webhook.post, with: {url: "{{ secret.HOOK }}", text: "{{ update.text }} {{ steps.measure.status }}"}}
on_alert_resolved: continue
params:
  threshold: {type: float, default: 0.05, description: Error rate that calls for a rollback}
  window: {type: duration, default: 5m}
  dry_run: {type: bool, default: false}
  ticket: {type: string, required: true}
steps:
  - id: measure
    phase: triage
    title: Measure the error rate
    action: http.request
    with: {url: "https://metrics.example/q?w={{ params.window }}&l={{ alert.labels.get('env') }}"}
    outputs: {rate: "{{ result.json.rate }}", version: "{{ result.json.version }}"}
  - id: rollback
    phase: mitigate
    when: "{{ steps.measure.rate | float > params.threshold }}"
    approval: {approvers: [carol, "group:sre"], min_approvals: 2, timeout: 10m, on_timeout: escalate}
    action: http.request
    with:
      method: POST
      url: "https://deploy.example/rollback"
      json: {from: "{{ steps['measure'].version }}", items: "{% for s in [1, 2] %}{{ s }}{% endfor %}"}
      expect_status: [200, 202]
    retry: {max_attempts: 5, initial_interval: 2s, backoff: 2.0, max_interval: 1m, non_retryable: [warroom.HttpStatusError]}
    timeout: 30s
    on_failure: {goto: page-humans}
    compensate: {action: http.request, with: {method: POST, url: "https://deploy.example/undo/{{ steps.rollback.status }}"}}
  - id: verify
    phase: verify
    action: http.request
    with: {url: "https://checkout.example/health"}
    on_failure: continue
  - id: page-humans
    phase: communicate
    when: true
    action: webhook.post
    with: {url: "https://hooks.example/x", text: "{{ incident.title }} ticket {{ params.ticket }}"}
"""

TEAMS = {"sre": ["alice", "bob"]}


def full() -> Runbook:
    return parse_runbook(FULL, "full.yaml", teams=TEAMS)


def test_every_field_of_the_language_parses():
    rb = full()
    assert rb.owner == "payments" and rb.tags == ["checkout", "deploy"]
    assert rb.escalation is not None and rb.escalation.levels[1].wait == timedelta(minutes=10)
    assert rb.escalation.levels[0].wait == timedelta(minutes=15)  # the documented default
    assert rb.on_alert_resolved == "continue"
    assert rb.params["threshold"].default == 0.05
    rollback = rb.step("rollback")
    assert rollback is not None and rollback.approval is not None
    assert rollback.approval.min_approvals == 2 and rollback.approval.on_timeout == "escalate"
    assert rollback.retry.non_retryable == ["warroom.HttpStatusError"]
    assert rollback.on_failure == Goto(goto="page-humans")
    assert rollback.compensate is not None and rollback.compensate.action == "http.request"
    assert rb.steps[0].outputs == {
        "rate": "{{ result.json.rate }}",
        "version": "{{ result.json.version }}",
    }


def test_parsed_runbook_survives_the_workflow_input_round_trip():
    rb = full()
    assert Runbook.model_validate_json(rb.model_dump_json()) == rb
    inp = IncidentInput(runbook=rb, summary="s")
    assert IncidentInput.model_validate_json(inp.model_dump_json()).runbook == rb


def test_defaults_keep_the_skeleton_behaviour():
    rb = parse_runbook(
        "name: t\ntitle: T\nsteps:\n  - {id: a, phase: triage, action: http.request,"
        ' approval: {approvers: [al]}, with: {url: "https://x.example"}}\n'
    )
    step = rb.steps[0]
    assert step.on_failure == "pause" and step.when is None and step.outputs is None
    assert step.approval is not None
    assert (step.approval.min_approvals, step.approval.on_timeout) == (1, "reject")
    assert rb.on_alert_resolved == "skip_mitigation" and rb.match == {} and rb.params == {}


def test_matchers_are_anchored_and_severity_comes_from_the_label():
    rb = full()
    labels = {"alertname": "CheckoutHighErrorRate", "env": "prod", "severity": "critical"}
    assert rb.matches(labels)
    assert not rb.matches({**labels, "env": "dev"})
    assert not rb.matches({**labels, "severity": "critical-ish"})  # =~ is anchored
    assert not rb.matches({**labels, "alertname": "Other"})
    assert rb.severity_for(labels) == "SEV1"
    assert rb.severity_for({**labels, "severity": "warning"}) == "SEV3"
    assert rb.severity_for({}) == "SEV2"


def test_a_regex_that_backtracks_in_python_matches_in_linear_time():
    # Under Python's `re`, (a+)+$ against 'a'*40 + 'b' takes ~2**40 steps (hours, holding the
    # GIL): with RE2, as in Alertmanager, it answers at once. A child process keeps a
    # regression from hanging pytest.
    program = (
        "from warroom.language.loader import parse_runbook\n"
        'rb = parse_runbook(\'name: t\\ntitle: T\\nmatch: {job: "=~(a+)+$"}\\nsteps:\\n'
        '  - {id: a, phase: triage, action: http.request, with: {url: "https://x.example"}}\')\n'
        "print(rb.matches({'job': 'a' * 40 + 'b'}), rb.matches({'job': 'a' * 40}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True"]


# ---- template references -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("{{ steps['measure-impact'].json.x }}", {("steps", "measure-impact", "json", "x")}),
        ("{{ steps }}", {("steps",)}),
        ("{{ alert.labels.get('env') }}", {("alert", "labels", "env")}),
        ("{{ steps.a.rate | float > 0.05 }}", {("steps", "a", "rate")}),
        ("{% set x = steps.b %}{{ x.y }}", {("steps", "b")}),
        (
            "{% for i in steps.c.items %}{{ i.name }}{{ loop.index }}{% endfor %}",
            {("steps", "c", "items")},
        ),
        ("{{ steps[name].x }}", {("steps",), ("name",)}),
        ("{{ result.json[0] }}", {("result", "json", "0")}),
        ("plain text", set()),
    ],
)
def test_references(text: str, refs: set[tuple[str, ...]]):
    assert references(text) == refs


def test_single_expression():
    assert single_expression("{{ a > 1 }}") and single_expression("  {{ a }}  ")
    assert not single_expression("x {{ a }}")
    assert not single_expression("{% if a %}yes{% endif %}")


def test_references_that_are_allowed_are_not_refused():
    """Loop-local names, `result` in outputs, `update` in updates, steps.ID.status, Jinja
    globals, and a compensation reading its own step all pass (FULL has each)."""
    text = FULL.replace("{{ s }}", "{{ s }}{{ range(2) | list }}")
    assert parse_runbook(text, teams=TEAMS).name == "checkout-5xx"


# ---- params --------------------------------------------------------------------------


def test_params_are_coerced_and_defaulted():
    rb = full()
    given = parse_param_args(["ticket=INC-1", "window=90s", "dry_run=yes", "threshold=0.1"])
    assert coerce_params(rb.params, given) == {
        "threshold": 0.1,
        "window": "1m30s",
        "dry_run": True,
        "ticket": "INC-1",
    }
    assert coerce_params(rb.params, {"ticket": "x"})["window"] == "5m"


def test_params_problems_are_all_reported():
    with pytest.raises(ParamsError) as info:
        coerce_params(full().params, {"treshold": "x", "window": "soon", "dry_run": "maybe"})
    assert info.value.problems == [
        "unknown param 'treshold' (did you mean 'threshold'?); this runbook takes: "
        "threshold, window, dry_run, ticket",
        "param 'window' (duration): 'soon' is not a duration: write a number with a unit, "
        "e.g. 30s, 15m, 1h, 1h30m",
        "param 'dry_run' (bool): 'maybe' is not a bool: write true or false",
        "param 'ticket' is required: add --param ticket=VALUE",
    ]


@pytest.mark.parametrize("arg", ["novalue", "=x"])
def test_param_args_need_name_and_value(arg: str):
    with pytest.raises(ParamsError, match="write NAME=VALUE"):
        parse_param_args([arg])


# ---- teams ---------------------------------------------------------------------------


def test_groups_resolve_to_people_without_repeats():
    assert resolve_approvers(["carol", "group:sre", "alice"], TEAMS) == ["carol", "alice", "bob"]
    assert resolve_approvers(["*"], TEAMS) == ["*"]
    with pytest.raises(
        RunbookError, match=re.escape("unknown group 'dba'; groups in teams.yaml: sre")
    ):
        resolve_approvers(["group:dba"], TEAMS)


def test_teams_yaml_next_to_the_runbook_and_warroom_teams(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("WARROOM_TEAMS", raising=False)
    (tmp_path / "full.yaml").write_text(FULL)
    (tmp_path / "teams.yaml").write_text("sre: [alice, bob]\n")
    assert load_runbook(str(tmp_path / "full.yaml")).name == "checkout-5xx"
    other = tmp_path / "other-teams.yaml"
    other.write_text("sre: [alice]\n")  # one person cannot make a quorum of 2 with carol... 3
    monkeypatch.setenv("WARROOM_TEAMS", str(other))
    text = FULL.replace("min_approvals: 2", "min_approvals: 3")
    (tmp_path / "full.yaml").write_text(text)
    with pytest.raises(RunbookError, match="min_approvals is 3 but the approvers are only 2"):
        load_runbook(str(tmp_path / "full.yaml"))


def test_broken_teams_yaml_is_located(tmp_path: Path, monkeypatch):
    teams = tmp_path / "teams.yaml"
    teams.write_text("sre: [alice, 'bob smith']\nsre: [x]\n")
    monkeypatch.setenv("WARROOM_TEAMS", str(teams))
    (tmp_path / "rb.yaml").write_text(FULL)
    with pytest.raises(RunbookError) as info:
        load_runbook(str(tmp_path / "rb.yaml"))
    assert [(p.path, p.line, p.col) for p in info.value.problems] == [
        (str(teams), 1, 14),
        (str(teams), 2, 1),
    ]


# ---- limits --------------------------------------------------------------------------


def test_file_above_the_size_limit_is_refused_unparsed():
    text = "name: t\ntitle: T\n# " + "x" * MAX_BYTES + "\n"
    with pytest.raises(RunbookError, match="a runbook may be at most 1,048,576 bytes"):
        parse_runbook(text, "big.yaml")


def test_too_many_steps_are_refused_before_validation():
    step = '  - {id: s, phase: triage, action: http.request, with: {url: "https://x"}}\n'
    with pytest.raises(RunbookError) as info:
        parse_runbook("name: t\ntitle: T\nsteps:\n" + step * (MAX_STEPS + 1), "many.yaml")
    assert str(info.value) == (
        f"many.yaml:3:1: steps: {MAX_STEPS + 1} steps; a runbook may have at most {MAX_STEPS}: "
        "split it into several runbooks"
    )


def test_too_many_values_are_refused_while_composing():
    text = "name: t\ntitle: T\nx: [" + "1," * (MAX_NODES + 10) + "]\n"
    with pytest.raises(RunbookError, match=f"more than {MAX_NODES} values"):
        parse_runbook(text, "wide.yaml")


def test_nesting_through_aliases_is_limited():
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 80)]
    with pytest.raises(RunbookError, match="nested deeper than 64 levels"):
        parse_runbook("\n".join(lines) + "\n", "chain.yaml")


# ---- catalogue commands --------------------------------------------------------------


def test_runbooks_list_json_shows_each_shipped_runbook():
    result = CliRunner().invoke(app, ["runbooks", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    demo = rows["demo-checkout"]
    assert demo["steps"] == {"triage": 1, "mitigate": 1, "verify": 1, "communicate": 1}
    assert demo["path"].endswith("demo-checkout.yaml")


def test_runbooks_show_json_is_the_parsed_runbook():
    result = CliRunner().invoke(app, ["runbooks", "show", "demo-checkout", "--json"])
    assert result.exit_code == 0, result.output
    assert Runbook.model_validate_json(result.stdout) == load_runbook("demo-checkout")


def test_runbooks_schema_describes_fields_and_each_actions_params():
    result = CliRunner().invoke(app, ["runbooks", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    defs = schema["$defs"]
    assert "Unique step id" in defs["Step"]["properties"]["id"]["description"]
    assert set(defs["with:http.request"]["properties"]) == {
        "method",
        "url",
        "query",
        "headers",
        "json",
        "body",
        "basic_auth",
        "bearer",
        "follow_redirects",
        "expect_status",
    }
    assert defs["Step"]["properties"]["action"]["enum"] == sorted(ACTION_PARAMS)


def test_short_validate_accepts_a_directory():
    result = CliRunner().invoke(app, ["validate", "runbooks"])
    assert result.exit_code == 0, result.output
    assert "ok: runbooks/demo-checkout.yaml (demo-checkout, 4 steps)" in result.stdout


def test_load_time_bounds_do_not_strand_a_running_incident():
    """Policy bounds (minimum cadence, longest duration, approver names) refuse a runbook at
    load, but a runbook decoded from a workflow input accepted before them still decodes."""
    text = FULL.replace("cadence: {SEV1: 15m}", "cadence: {SEV1: 5s}").replace(
        "timeout: 10m", "timeout: 60d"
    )
    with pytest.raises(RunbookError) as info:
        parse_runbook(text, "full.yaml", teams=TEAMS)
    assert [p.message.split(":")[0] for p in info.value.problems] == [
        "cadence",
        "step 'rollback' approval.timeout",
    ]
    stored = full().model_dump(mode="json")
    stored["cadence"]["SEV1"] = "5s"
    stored["steps"][1]["approval"]["timeout"] = "60d"
    stored["steps"][1]["approval"]["approvers"] = ["", "group:sre"]
    decoded = Runbook.model_validate(stored)
    assert decoded.cadence["SEV1"] == timedelta(seconds=5)


def test_oversized_file_is_refused_with_its_real_size(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"name: t\n#" + b"x" * (2 * MAX_BYTES))
    with pytest.raises(RunbookError) as info:
        load_runbook(str(path))
    assert str(info.value) == (
        f"{path}:1:1: the file is {2 * MAX_BYTES + 9:,} bytes; a runbook may be at most "
        "1,048,576 bytes (1 MiB): split it into several runbooks"
    )


def test_references_in_walks_a_steps_with():
    with_ = {"url": "https://x/{{ params.a }}", "json": {"k": ["{{ steps.b.c }}", 3]}, "n": 1}
    assert references_in(with_) == {("params", "a"), ("steps", "b", "c")}
