"""people.yaml: names ↔ Slack ids ↔ e-mail, contact order, and clear errors."""

from pathlib import Path

import pytest

from warroom.errors import RunbookError
from warroom.language.loader import runbook_files
from warroom.language.people import load_people, people_path

SHIPPED = Path(__file__).parents[2] / "runbooks"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.yaml"
    path.write_text(text)
    return path


def test_the_shipped_people_map_both_ways() -> None:
    people = load_people(people_path(SHIPPED))
    assert people.by_slack("U024BE7LH") == "dana-oncall"
    assert people.slack_id("dana-oncall") == "U024BE7LH"
    assert people.by_email("DANA@example.com") == "dana-oncall"
    assert people.display("dana-oncall") == "Dana Ortiz"
    assert people.display("nobody") == "nobody"
    assert people.by_slack("U999") is None


def test_contact_order_defaults_to_what_is_configured(tmp_path: Path) -> None:
    people = load_people(
        write(
            tmp_path,
            "a: {email: a@x.io, slack: U1AA}\nb: {email: b@x.io, slack: U2BB, contact: [email]}\n",
        )
    )
    assert people.people["a"].methods() == ["slack", "email"]
    assert people.people["b"].methods() == ["email"]


def test_a_contact_method_without_its_address_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n  email: a@x.io\n  contact: [slack]\n")
    with pytest.raises(RunbookError) as err:
        load_people(path)
    assert f"{path}:3" in str(err.value)
    assert "has no slack" in str(err.value)


def test_one_slack_id_for_two_people_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="both a and b"):
        load_people(write(tmp_path, "a: {slack: U1AA}\nb: {slack: U1AA}\n"))


def test_a_misspelt_field_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="emial"):
        load_people(write(tmp_path, "a: {emial: a@x.io}\n"))


def test_config_files_are_not_runbooks() -> None:
    names = {p.name for p in runbook_files(SHIPPED)}
    assert "people.yaml" not in names and "teams.yaml" not in names
