"""Roles: viewer < responder < admin, and the alerts scope, checked by one function every face
calls; the tokens file's two forms; every refusal audited."""

from __future__ import annotations

import json
import logging

import pytest

from warroom.access import audit
from warroom.access.roles import ALERTS, Principal, Role, RoleRequired, require, require_scope
from warroom.access.tokens import load_tokens
from warroom.errors import WarroomError

VIEWER = Principal("vera", Role.viewer, "oidc")
RESPONDER = Principal("dana", Role.responder, "token:dana")
ADMIN = Principal("ada", Role.admin, "oidc")
ALERTS_ONLY = Principal("alertmanager", None, "token:alertmanager", ALERTS)


def test_each_role_may_do_what_the_roles_below_it_may():
    for who in (VIEWER, RESPONDER, ADMIN):
        assert require(who, Role.viewer, "GET /v1/incidents") is who
    for who in (RESPONDER, ADMIN):
        assert require(who, Role.responder, "approve") is who
    assert require(ADMIN, Role.admin, "edit schedules") is ADMIN


def test_a_refusal_names_the_role_needed_and_is_audited(caplog):
    seen: list[tuple[str, str]] = []
    stop = audit.listen(lambda event, via: seen.append((event, via)))
    try:
        with caplog.at_level(logging.INFO, "warroom.audit"):
            with pytest.raises(
                RoleRequired, match="approve needs the responder role; vera is a viewer"
            ) as refused:
                require(VIEWER, Role.responder, "approve")
            with pytest.raises(RoleRequired, match="needs the admin role; dana is a responder"):
                require(RESPONDER, Role.admin, "edit schedules")
    finally:
        stop()
    assert refused.value.needed == "responder"
    assert seen == [("refused", "oidc"), ("refused", "token")]
    logged = json.loads(caplog.records[0].getMessage())
    assert logged == {
        "event": "refused",
        "identity": "vera",
        "via": "oidc",
        "action": "approve",
        "needed": "responder",
    }


def test_an_alerts_token_sends_alerts_and_nothing_else():
    assert require_scope(ALERTS_ONLY, ALERTS, "POST /v1/alerts") is ALERTS_ONLY
    assert require_scope(RESPONDER, ALERTS, "POST /v1/alerts") is RESPONDER  # today's tokens
    for needed in Role:
        with pytest.raises(RoleRequired, match="this token has the alerts scope only"):
            require(ALERTS_ONLY, needed, "GET /v1/incidents")
    with pytest.raises(RoleRequired, match="needs a token with the alerts scope"):
        require_scope(VIEWER, ALERTS, "POST /v1/alerts")


def write(tmp_path, text):
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    return str(path)


T1, T2, T3, T4 = (f"token-{n}-0123456789abcdef" for n in "1234")


def test_the_tokens_file_takes_both_forms(tmp_path):
    tokens = load_tokens(
        write(
            tmp_path,
            f"{T1}: dana\n"
            f"{T2}: {{identity: alertmanager, scope: alerts}}\n"
            f"{T3}: {{identity: grafana, role: viewer}}\n"
            f"{T4}: {{identity: ada, role: admin}}\n",
        )
    )
    assert tokens.principal(T1) == Principal("dana", Role.responder, "token:dana")
    assert tokens.principal(T2) == Principal("alertmanager", None, "token:alertmanager", "alerts")
    assert tokens.principal(T3) == Principal("grafana", Role.viewer, "token:grafana")
    assert tokens.principal(T4) == Principal("ada", Role.admin, "token:ada")
    assert tokens.identity(T3) == "grafana" and tokens.principal(T1[:-1]) is None


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (
            "{identity: x, role: root}",
            "Input should be 'viewer', 'responder' or 'admin' at an entry, field 'role'",
        ),
        ("{identity: x, role: admin, scope: alerts}", "give a role or a scope, not both"),
        ("{identity: x, scope: deploy}", "field 'scope'"),
        ("{name: x}", "Field required at an entry, field 'identity'"),
        ("{identity: x, rol: admin}", "field 'rol'"),
    ],
)
def test_a_bad_entry_says_what_is_wrong_and_never_the_token(tmp_path, entry, reason):
    with pytest.raises(WarroomError) as raised:
        load_tokens(write(tmp_path, f"{T1}: {entry}\n"))
    assert reason in str(raised.value)
    assert T1 not in str(raised.value)


def test_a_role_change_in_the_tokens_file_ends_the_sessions(tmp_path):
    before = load_tokens(write(tmp_path, f"{T1}: {{identity: dana, role: responder}}\n"))
    same = load_tokens(write(tmp_path, f"{T1}: dana\n"))
    after = load_tokens(write(tmp_path, f"{T1}: {{identity: dana, role: viewer}}\n"))
    assert before.fingerprint() == same.fingerprint() != after.fingerprint()
