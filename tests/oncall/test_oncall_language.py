"""oncall.yaml: the issue's example loads; each kind of bad input is one clear located line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.oncall.fixtures import EXAMPLE, PEOPLE, example
from warroom.errors import RunbookError
from warroom.language.oncall import OnCallFile, oncall_json_schema
from warroom.language.oncall_file import load_oncall, oncall_path, parse_oncall
from warroom.language.people import load_people, people_path

SHIPPED = Path(__file__).parents[2] / "runbooks"


def problems(text: str) -> str:
    with pytest.raises(RunbookError) as caught:
        parse_oncall(text, "oncall.yaml", PEOPLE)
    return str(caught.value)


def schedule(layers: str, timezone: str = "Europe/Berlin") -> str:
    return f"schedules:\n  sre:\n    timezone: {timezone}\n    layers:\n{layers}"


ONE_LAYER = '      - rotation: {every: 1w, handoff: "mon 09:00"}\n        members: [alice]\n'


def test_the_issue_example_loads_and_survives_a_json_round_trip() -> None:
    parsed = example()
    primary = parsed.schedules["sre-primary"]
    assert primary.members() == ["alice", "bob", "carol", "dave", "erin"]
    assert primary.layers[1].restrict is not None
    assert primary.layers[1].restrict.from_ == "18:00"
    assert parsed.policies["sre-default"].repeat == 2
    dumped = parsed.model_dump(mode="json")
    assert dumped["schedules"]["sre-primary"]["layers"][1]["restrict"]["from"] == "18:00"
    assert OnCallFile.model_validate(json.loads(json.dumps(dumped))) == parsed


def test_the_shipped_oncall_file_loads_with_the_shipped_people() -> None:
    path = oncall_path(SHIPPED)
    assert path is not None
    parsed = load_oncall(path)
    assert parsed.schedules and parsed.policies
    people = load_people(people_path(SHIPPED))
    for sched in parsed.schedules.values():
        assert all(people.get(m) for m in sched.members())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            schedule(
                '      - rotation: {every: 1w, handoff: "mon 09:00"}\n        members: [alcie]\n'
            ),
            "oncall.yaml:6:19: schedules.sre.layers[0].members[0]: unknown person 'alcie' "
            "(did you mean 'alice'?)",
        ),
        (
            schedule(ONE_LAYER, timezone="Europe/Berln"),
            "oncall.yaml:3:15: schedules.sre.timezone: no time zone 'Europe/Berln' "
            "(did you mean 'Europe/Berlin'?)",
        ),
        (
            schedule('      - rotation: {every: 0s, handoff: "09:00"}\n        members: [alice]\n'),
            "oncall.yaml:5:27: schedules.sre.layers[0].rotation.every: '0s': a rotation must be "
            "longer than zero",
        ),
        (
            schedule(
                '      - rotation: {every: 1d, handoff: "09:00"}\n        members: [alice]\n'
                '        restrict: {days: [], from: "18:00", to: "09:00"}\n'
            ),
            "schedules.sre.layers[0].restrict.days: this restrict window never occurs",
        ),
        (
            schedule(ONE_LAYER + ONE_LAYER),
            "schedules.sre.layers[0]: layer 1 is never on call: layer 2 above it has someone "
            "at every instant",
        ),
        (
            schedule(
                '      - rotation: {every: 1d, handoff: "mon 09:00"}\n        members: [alice]\n'
            ),
            "a weekday handoff ('mon 09:00') needs a rotation of whole weeks, not 1d",
        ),
        (
            schedule(
                '      - rotation: {every: 1w, handoff: "mun 09:00"}\n        members: [alice]\n'
            ),
            "'mun' is not a weekday (did you mean",
        ),
        (
            schedule("      - rotation: {every: 1d, handoff: 18:00}\n        members: [alice]\n"),
            'YAML reads unquoted 18:00 as int 1080; if you mean the text, quote it: "18:00"',
        ),
        (
            schedule('      - rotation: {evry: 1d, handoff: "09:00"}\n        members: [alice]\n'),
            "unknown key 'evry' (did you mean 'every'?)",
        ),
        (
            "policies:\n  p:\n    levels:\n      - {notify: [oncall: nope], wait: 5m}\n",
            "oncall.yaml:4:27: policies.p.levels[0].notify[0].oncall: unknown schedule 'nope'",
        ),
        (
            "policies:\n  p:\n    levels:\n      - {notify: [{oncall: a, person: bob}], wait: 5m}\n",
            "a target is one of {oncall: SCHEDULE}, {group: GROUP}, {person: NAME}",
        ),
    ],
)
def test_bad_input_is_one_clear_located_line(text: str, expected: str) -> None:
    assert expected in problems(text)


def test_every_problem_is_reported_at_once() -> None:
    text = EXAMPLE.replace("[alice, bob, carol]", "[alice, bobby, carol]").replace(
        "Europe/Berlin", "Mars/Olympus"
    )
    lines = problems(text).splitlines()
    assert len(lines) == 1 or any("bobby" in line for line in lines)
    assert any("Mars/Olympus" in line for line in lines)


def test_the_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text(EXAMPLE)
    monkeypatch.setenv("WARROOM_ONCALL", str(path))
    assert oncall_path(SHIPPED) == path
    monkeypatch.setenv("WARROOM_ONCALL", str(tmp_path / "missing.yaml"))
    with pytest.raises(RunbookError, match="no such on-call file"):
        load_oncall(oncall_path(None))


def test_the_json_schema_describes_the_file() -> None:
    schema = oncall_json_schema()
    assert set(schema["properties"]) == {"schedules", "policies"}
    assert "from" in schema["$defs"]["Restrict"]["properties"]
