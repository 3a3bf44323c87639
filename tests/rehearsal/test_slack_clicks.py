"""Slack clicks in a scenario (`people: [{at, slack: {click, step, comment}, by}]`): sent as
the chat face sends them (warroom.incidents.decisions.from_slack, authenticated by Slack),
shown in the timeline as the person's decision via Slack, refused like any decision, and
checked strictly (file:line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from warroom.errors import RunbookError
from warroom.language.loader import SHIPPED_RUNBOOKS, load_runbook
from warroom.rehearsal.report import assert_passed, rehearsal_json, rehearsal_text
from warroom.rehearsal.runner import rehearse_file
from warroom.rehearsal.scenario import load_scenario

SHIPPED = SHIPPED_RUNBOOKS / "scenarios" / "demo-checkout" / "decided-in-slack.yaml"


async def test_slack_clicks_decide_and_show_as_slack_decisions(time_env: WorkflowEnvironment):
    done = await rehearse_file(time_env, SHIPPED)
    assert_passed(done)
    approvals = [(d.by, d.step, d.comment) for d in done.state.decisions if d.kind == "approve"]
    assert approvals == [("dana-oncall", "rollback", "canary is clean")]
    people = [(e.event, e.actor, e.authenticated) for e in done.entries if e.source == "person"]
    assert people[1:] == [
        ("acknowledged", "dana-oncall", "slack"),
        ("approved", "dana-oncall", "slack"),
    ]
    assert "dana-oncall (person, slack)  approved" in rehearsal_text(done)
    timeline = rehearsal_json(done)["timeline"]
    assert [e["authenticated"] for e in timeline if e["event"] == "approved"] == ["slack"]


async def test_a_refused_slack_click_is_reported_as_one(
    time_env: WorkflowEnvironment, tmp_path: Path
):
    path = tmp_path / "scenario.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            declare: {summary: wrong approver, by: dana}
            actions: {measure-impact: [{json: {version: v2, previous_version: v1}}]}
            people:
              - {at: 1m, slack: {click: approve, step: rollback}, by: mallory, refused: true}
              - {at: 2m, slack: {click: reject, step: rollback, comment: not it}, by: sre-lead}
            expect: {status: aborted, not_run: [rollback]}
            """
        )
    )
    done = await rehearse_file(time_env, path, "demo-checkout")
    assert_passed(done)
    refused = [e for e in done.entries if e.event == "approve refused"]
    assert [(e.actor, e.authenticated) for e in refused] == [("mallory", "slack")]
    assert "not an approver" in refused[0].detail
    assert [(d.by, d.comment) for d in done.state.decisions if d.kind == "reject"] == [
        ("sre-lead", "not it")
    ]
    assert done.delivered[0].what == "approve rollback by mallory (clicked in Slack)"


MALFORMED = [
    (
        "{at: 1m, slack: {click: approuve, step: rollback}, by: a}",
        "3:29: people[0].slack.click: Input should be 'approve', 'reject'",
    ),
    (
        "{at: 1m, slack: {click: approve, step: rolback}, by: a}",
        "3:44: people[0].slack.step: no step 'rolback' in the runbook (did you mean 'rollback'?)",
    ),
    (
        "{at: 1m, slack: {click: approve}, by: a}",
        "3:21: people[0].slack: approve is a step's button: say which step (step:)",
    ),
    (
        "{at: 1m, slack: {click: acknowledge, step: rollback}, by: a}",
        "3:21: people[0].slack: acknowledge is the card's button: it names no step",
    ),
    (
        "{at: 1m, slack: {click: retry, step: rollback, comment: x}, by: a}",
        "3:21: people[0].slack: retry opens no modal: only approve and reject take a comment",
    ),
    (
        "{at: 1m, slack: {click: reject, step: rollback}, by: a}",
        "3:21: people[0].slack: Reject's modal asks for the reason: give it as comment:",
    ),
    (
        "{at: 1m, slack: {click: approve, step: rollback}, comment: go, by: a}",
        "3:5: people[0]: a Slack click's comment goes in slack:",
    ),
    (
        "{at: 1m, slack: {click: approve, step: rollback}, approve: rollback, by: a}",
        "3:5: people[0]: say exactly one decision per entry (got approve, slack)",
    ),
    (
        "{at: 1m, slack: {click: approve, step: rollback, bogus: 1}, by: a}",
        "3:54: people[0].slack.bogus: unknown key 'bogus'",
    ),
]


@pytest.mark.parametrize(
    ("entry", "error"), MALFORMED, ids=[e[1].split(": ")[2][:40] for e in MALFORMED]
)
def test_a_malformed_slack_click_is_refused_with_file_and_line(
    tmp_path: Path, entry: str, error: str
):
    path = tmp_path / "scenario.yaml"
    path.write_text(f"declare: {{summary: x}}\npeople:\n  - {entry}\n")
    with pytest.raises(RunbookError) as refused:
        load_scenario(path, load_runbook("demo-checkout"))
    errors = str(refused.value).replace(str(tmp_path) + "/", "").splitlines()
    assert any(line.startswith(f"scenario.yaml:{error}") for line in errors), errors
