"""The tokens file: read once at start; a file that is named but holds no token is an error,
never "no authentication"."""

from __future__ import annotations

import pytest

from warroom.access.tokens import TOKENS_ENV, load_tokens
from warroom.errors import WarroomError

TOKEN = "dana-token-0123456789abcdef"


@pytest.mark.parametrize("content", ["{}\n", "", "# nobody yet\n"])
def test_a_tokens_file_without_tokens_is_an_error(tmp_path, content):
    path = tmp_path / "tokens.yaml"
    path.write_text(content)
    with pytest.raises(WarroomError, match="the file has no tokens") as raised:
        load_tokens(str(path))
    assert str(path) in str(raised.value)


def test_an_empty_variable_is_an_error_not_authentication_off(monkeypatch):
    monkeypatch.setenv(TOKENS_ENV, "")
    with pytest.raises(WarroomError, match=f"{TOKENS_ENV} is set but empty"):
        load_tokens()


def test_without_the_variable_there_are_no_tokens(monkeypatch):
    monkeypatch.delenv(TOKENS_ENV, raising=False)
    assert not load_tokens()


def test_a_tokens_file_maps_each_token_to_its_identity(tmp_path, monkeypatch):
    path = tmp_path / "tokens.yaml"
    path.write_text(f"{TOKEN}: dana-oncall\n")
    monkeypatch.setenv(TOKENS_ENV, str(path))
    tokens = load_tokens()
    assert tokens and tokens.identity(TOKEN) == "dana-oncall"
    assert tokens.identity(TOKEN[:-1]) is None
