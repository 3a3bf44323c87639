"""A schema error does not hide the rest of a runbook's problems: the static checks run on what
parsed and skip only what depends on the broken part, so nothing is reported twice or about a
stand-in."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from pydantic import ValidationError

from tests.language.test_runbook_properties import SETTINGS, mutated_data
from warroom.errors import RunbookError
from warroom.language.durations import AT_LOAD
from warroom.language.loader import parse_runbook
from warroom.language.runbook import Runbook
from warroom.language.salvage import Gaps, salvage
from warroom.language.yaml_source import read_document

HEAD = "name: t\ntitle: T\n"


def problems(body: str, teams: dict[str, list[str]] | None = None) -> list[str]:
    """`line:col: message` of every problem of HEAD + body."""
    with pytest.raises(RunbookError) as caught:
        parse_runbook(HEAD + textwrap.dedent(body), "rb.yaml", teams=teams)
    return [f"{p.line}:{p.col}: {p.message}" for p in caught.value.problems]


def test_every_step_is_checked_when_one_step_is_not_a_mapping():
    found = problems(
        """\
        steps:
          - just text
          - {id: b, phase: triage, action: http.request, with: {url: "https://x/{{ steps.z }}"}}
          - {id: b, phase: verify, action: http.request, with: {url: "https://x/b", mthod: GET}}
          - {id: c, phase: triage, action: note, with: {text: "{{ steps.b.json }}"}}
        """
    )
    # steps.z may mean the first step, whose id is not known: not reported.
    assert found == [
        "4:5: steps[0]: Input should be a valid dictionary or instance of Step",
        "6:10: step 'b' id: step id 'b' is used twice: give each step its own id",
        "6:77: step 'b' with.mthod: http.request has no parameter 'mthod' (did you mean "
        "'method'?); it takes: method, url, query, headers, json, body, basic_auth, bearer, "
        "follow_redirects, expect_status",
        "7:20: step 'c' phase: step 'c' (phase triage) comes after a verify step: phases run in "
        "order triage → mitigate → verify → recover, so move it up or change its phase",
        "7:55: step 'c' with.text: steps.b.json: a step without `outputs` keeps its action's "
        "whole result as steps.b.result (write steps.b.result.json), or declare `outputs` on "
        "step 'b' to keep only what later steps need",
    ]


def test_a_broken_phase_is_left_out_of_the_phase_order_only():
    found = problems(
        """\
        steps:
          - {id: a, phase: verify, action: note, with: {text: a}}
          - {id: b, phase: mitigation, action: note, with: {text: b}}
          - {id: c, phase: triage, action: note, with: {text: c}}
        """
    )
    assert len(found) == 2
    assert found[0].startswith("5:20: step 'b' phase: Input should be 'triage'")
    assert found[1].startswith("6:20: step 'c' phase: step 'c' (phase triage) comes after a verify")


def test_steps_without_an_id_are_not_taken_for_duplicates_or_missed():
    # steps.b and the goto may mean the step without an id: not known to be wrong.
    found = problems(
        """\
        steps:
          - {phase: triage, action: note, with: {text: a}}
          - {phase: triage, action: note, with: {text: "{{ steps.b }}"}}
          - {id: c, phase: triage, action: note, with: {text: c}, on_failure: {goto: d}}
        """
    )
    assert found == [
        "4:5: steps[0]: required key 'id' is missing",
        "5:5: steps[1]: required key 'id' is missing",
    ]


def test_a_param_that_did_not_parse_is_still_declared():
    found = problems(
        """\
        params: {window: {type: duration, default: 5}}
        steps:
          - {id: a, phase: triage, action: http.request, with: {url: "https://x/{{ params.window }}{{ params.windw }}"}}
        """
    )
    assert found == [
        "3:18: params.window: 5 is not a duration: write it with a unit, e.g. 5m",
        "5:62: step 'a' with.url: params.windw is not declared (did you mean 'window'?): "
        "declare it under `params:` (declared: window)",
    ]


def test_params_that_did_not_parse_as_a_whole_are_not_judged():
    found = problems(
        """\
        params: {Window: {type: duration}}
        steps:
          - {id: a, phase: triage, action: http.request, with: {url: "https://x/{{ params.Window }}"}}
        """
    )
    assert len(found) == 1 and found[0].startswith("3:10: params.Window: 'Window' is not a valid")


def test_outputs_that_did_not_parse_are_not_judged_from_other_steps():
    found = problems(
        """\
        steps:
          - {id: a, phase: triage, action: http.request, with: {url: "https://x/a"}, outputs: {Rate: "{{ result.json }}"}}
          - {id: b, phase: mitigate, action: http.request, with: {url: "https://x/{{ steps.a.Rate }}{{ steps.q }}"}}
        """
    )
    assert len(found) == 2
    assert found[0].startswith("4:88: step 'a' outputs.Rate: 'Rate' is not a valid name")
    assert found[1] == "5:64: step 'b' with.url: steps.q: no such step; steps: a, b"


def test_a_step_id_that_did_not_parse_still_names_its_step():
    found = problems(
        """\
        steps:
          - {id: Measure, phase: triage, action: http.request, with: {url: "https://x/a"}}
          - {id: b, phase: mitigate, action: http.request, with: {url: "https://x/{{ steps.Measure.status }}"}}
          - {id: c, phase: verify, action: http.request, with: {url: "https://x/{{ steps.nope }}"}}
        """
    )
    assert len(found) == 2
    assert found[0].startswith("4:10: step 'Measure' id: 'Measure' is not a valid id")
    assert found[1] == "6:62: step 'c' with.url: steps.nope: no such step; steps: Measure, b, c"


def test_an_action_or_with_that_did_not_parse_is_not_checked_against_a_stand_in():
    found = problems(
        """\
        steps:
          - {id: a, phase: triage, action: HTTP.request, with: {url: "https://x/a"}}
          - {id: b, phase: triage, action: http.request, with: [url, "https://x/b"]}
          - {id: c, phase: triage, action: http.reqest, with: {url: "https://x/c"}}
        """
    )
    assert len(found) == 3
    assert "'HTTP.request' is not a valid action" in found[0]
    assert "with: Input should be a valid dictionary" in found[1]
    assert "unknown action 'http.reqest'" in found[2]


def test_quorum_is_checked_on_the_approvals_that_parsed():
    found = problems(
        """\
        steps:
          - {id: a, phase: mitigate, action: note, with: {text: a}, approval: {approvers: [], min_approvals: 3}}
          - {id: b, phase: mitigate, action: note, with: {text: b}, approval: {approvers: [alice], min_approvals: 2}}
          - {id: c, phase: mitigate, action: note, with: {text: c}, approval: {approvers: ["group:dba"]}}
        """,
        teams={"sre": ["alice"]},
    )
    assert len(found) == 3
    assert "approval.approvers: List should have at least 1 item" in found[0]
    assert "min_approvals is 2 but the approvers are only 1 distinct people (alice)" in found[1]
    assert (
        found[2]
        == "6:84: step 'c' approval.approvers[0]: unknown group 'dba'; groups in teams.yaml: sre"
    )


def test_notifications_are_checked_when_their_neighbours_did_not_parse():
    found = problems(
        """\
        escalation:
          acknowledge_within: 5
          levels: [{notify: [{action: webhook.post, with: {url: "https://h/x", text: "{{ steps.nope }}"}}]}]
        updates:
          - {action: webhook.post, wth: {}}
          - {action: http.request, with: {url: "https://h/u"}}
        steps:
          - {id: a, phase: triage, action: note, with: {text: a}}
        """
    )
    assert len(found) == 5
    assert found[0].startswith("4:23: escalation.acknowledge_within: 5 has no unit")
    assert found[1].startswith(
        "5:78: escalation.levels[0].notify[0].with.text: steps.nope: no such"
    )
    # `with` is misspelt, so the action has none: both are true, as for a step.
    assert found[2] == "7:5: updates[0].with: webhook.post needs 'url': add `url: ...` under `with`"
    assert found[3].startswith("7:28: updates[0].wth: unknown key 'wth' (did you mean 'with'?)")
    assert found[4].startswith("8:14: updates[1].action: notifications receive the status line")


def test_steps_that_did_not_parse_as_a_whole_are_not_judged():
    found = problems(
        """\
        updates: [{action: webhook.post, with: {url: "https://h/u", text: "{{ steps.a.status }}"}}]
        steps: {id: a}
        """
    )
    assert found == ["4:8: steps: Input should be a valid list"]


@SETTINGS
@given(mutated_data())
def test_whatever_fails_the_schema_can_be_salvaged(text: str):
    try:
        doc = read_document(text)
    except Exception:  # not YAML any more: the reader's own tests cover it
        return
    if not isinstance(doc.data, dict):
        return
    try:
        Runbook.model_validate(doc.data, context=AT_LOAD)
    except ValidationError as exc:
        salvaged = salvage(doc.data, exc)
        assert salvaged is not None, exc
        runbook, gaps = salvaged
        assert isinstance(runbook, Runbook) and gaps.broken
        assert all(loc for loc in gaps.broken)


def test_gaps_hold_a_place_and_everything_inside_it():
    gaps = Gaps(frozenset({("steps", 1, "phase")}))
    assert ("steps", 1, "phase") in gaps and ("steps", 1, "phase", "x") in gaps
    assert ("steps", 1) not in gaps and ("steps", 2, "phase") not in gaps
