"""The room's configuration: the runbook's `chat:` key (strict), chat.yaml as the default of the
runbooks beside it, and the signing secret the chat face needs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from warroom.chat.signing import Refused, SignedRequests
from warroom.entry.fakeslack import SCOPES, SECRET, sign
from warroom.errors import RunbookError
from warroom.language.loader import load_runbook_file, parse_runbook
from warroom.language.runbook import is_channel_id
from warroom.language.schema import runbook_json_schema

PLAIN = (
    "name: plain\ntitle: Plain\nsteps:\n  - {id: a, phase: triage, action: note, with: {text: x}}\n"
)


def test_chat_yaml_is_the_default_of_the_runbooks_beside_it(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text(PLAIN)
    own = PLAIN.replace("name: plain", "name: own") + 'chat: {slack: {channel: "#ops"}}\n'
    (tmp_path / "own.yaml").write_text(own)
    assert load_runbook_file(tmp_path / "plain.yaml").chat is None
    (tmp_path / "chat.yaml").write_text("slack: {channel: create, at_close: rename}\n")
    chat = load_runbook_file(tmp_path / "plain.yaml").chat
    assert chat is not None and chat.slack is not None
    assert chat.slack.creates and chat.slack.at_close == "rename"
    kept = load_runbook_file(tmp_path / "own.yaml").chat
    assert kept is not None and kept.slack is not None and kept.slack.channel == "#ops"


def test_a_broken_chat_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text(PLAIN)
    (tmp_path / "chat.yaml").write_text("slack:\n  chanel: create\n")
    with pytest.raises(RunbookError) as caught:
        load_runbook_file(tmp_path / "plain.yaml")
    assert "chat.yaml:2" in str(caught.value) and "chanel" in str(caught.value)


@pytest.mark.parametrize(
    ("chat", "says"),
    [
        ('{slack: {channel: "#Payments Incidents"}}', "channel"),
        ("{slack: {at_close: burn}}", "at_close"),
        ("{teams: {}}", "teams"),
    ],
)
def test_the_chat_key_is_strict(chat: str, says: str) -> None:
    with pytest.raises(RunbookError, match=says):
        parse_runbook(PLAIN + f"chat: {chat}\n")


@pytest.mark.parametrize("channel", ["create", '"#payments-incidents"', "C024BE91L", "G0PRIVATE12"])
def test_the_channel_is_create_a_name_or_an_id(channel: str) -> None:
    chat = parse_runbook(PLAIN + f"chat: {{slack: {{channel: {channel}}}}}\n").chat
    assert chat is not None and chat.slack is not None
    assert chat.slack.channel == channel.strip('"')
    assert is_channel_id(chat.slack.channel) == (channel[0] in "CG")


@pytest.mark.parametrize(
    ("channel", "guess"),
    [
        ('"#Payments Incidents"', " (did you mean '#payments-incidents'?)"),
        ("c024Be91L", " (did you mean 'C024BE91L'?)"),
        ("Create", " (did you mean 'create'?)"),
        ('"!!"', ""),
    ],
)
def test_a_channel_that_is_none_of_them_is_refused_with_its_line(
    tmp_path: Path, channel: str, guess: str
) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(PLAIN + f"chat:\n  slack:\n    channel: {channel}\n")
    with pytest.raises(RunbookError) as caught:
        load_runbook_file(path)
    said = str(caught.value)
    assert (
        f"plain.yaml:7:14: chat.slack.channel: '{channel.strip(chr(34))}' is not a channel: "
        in said
    )
    assert said.rstrip().endswith(f"or a channel id such as C024BE91L{guess}")


def test_the_json_schema_describes_chat() -> None:
    schema = runbook_json_schema()
    assert "chat" in schema["properties"] and "SlackRoom" in schema["$defs"]


def test_without_a_signing_secret_slack_requests_are_refused_with_the_reason() -> None:
    with pytest.raises(Refused) as caught:
        SignedRequests(None).check({}, b"")
    assert caught.value.status == 503 and "WARROOM_SLACK_SIGNING_SECRET" in caught.value.reason


def test_signature_checks() -> None:
    signed = SignedRequests(SECRET)
    body = b"payload=%7B%7D"
    headers = {k.lower(): v for k, v in sign(body).items()}
    signed.check(headers, body)
    with pytest.raises(Refused, match="replay"):
        signed.check(headers, body)
    signed.check({**headers, "x-slack-retry-num": "1"}, body)  # Slack's own retry
    future = {k.lower(): v for k, v in sign(body, at=time.time() + 400).items()}
    with pytest.raises(Refused, match="5 minutes"):
        signed.check(future, body)
    with pytest.raises(Refused, match="Unix time"):
        signed.check({**headers, "x-slack-request-timestamp": "soon"}, body)
    with pytest.raises(Refused, match="does not match"):
        signed.check({k.lower(): v for k, v in sign(body + b"x").items()}, body)


def test_the_fake_slack_allows_what_the_readme_manifest_asks_for() -> None:
    """The app manifest people paste (README) and the scopes the fake enforces are the same."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    manifest = next(
        yaml.safe_load(block)
        for block in re.findall(r"```yaml\n(.*?)```", readme, re.S)
        if block.startswith("display_information:")
    )
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == SCOPES
