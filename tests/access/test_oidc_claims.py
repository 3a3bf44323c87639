"""From an ID token's claims to a principal, and the OpenID Connect settings (no provider
needed: the token checks themselves are in tests/oidc, against a real one)."""

from __future__ import annotations

import re

import pytest

from warroom.access.oidc import OidcSettings, Provider, SignInFailed
from warroom.access.roles import Principal, Role
from warroom.errors import WarroomError
from warroom.language.people import People, Person

BASE = {
    "WARROOM_OIDC_ISSUER": "https://id.example.com/",
    "WARROOM_OIDC_CLIENT_ID": "warroom",
    "WARROOM_OIDC_CLIENT_SECRET": "s3cret-0123456789",
    "WARROOM_PUBLIC_URL": "https://warroom.example.com",
    "WARROOM_OIDC_ROLES": "{sre: responder, eng: viewer, sre-leads: admin}",
}


def settings(**changes: str) -> OidcSettings:
    found = OidcSettings.from_env({**BASE, **changes})
    assert found is not None
    return found


def test_settings_from_the_environment():
    got = settings()
    assert got.issuer == "https://id.example.com"
    assert got.redirect_uri == "https://warroom.example.com/console/oidc/callback"
    assert got.roles == {"sre": Role.responder, "eng": Role.viewer, "sre-leads": Role.admin}
    assert got.name_claim == "preferred_username" and not got.keep_token_form
    assert settings(WARROOM_OIDC_KEEP_TOKEN_SIGN_IN="true").keep_token_form
    assert OidcSettings.from_env({}) is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"WARROOM_OIDC_CLIENT_SECRET": ""}, "set WARROOM_OIDC_CLIENT_SECRET too"),
        ({"WARROOM_OIDC_ROLES": "{sre: owner}"}, "WARROOM_OIDC_ROLES: unknown role 'owner'"),
        ({"WARROOM_OIDC_ROLES": "[sre]"}, "write group: role pairs"),
        ({"WARROOM_OIDC_NAME_CLAIM": "sub"}, "use one of preferred_username, email"),
        ({"WARROOM_PUBLIC_URL": "warroom.example.com"}, "is not an http(s) URL"),
    ],
)
def test_bad_settings_say_what_to_fix(changes, problem):
    with pytest.raises(WarroomError, match=re.escape(problem)):
        OidcSettings.from_env({**BASE, **changes})


def test_the_highest_role_of_a_persons_groups_wins():
    provider = Provider(settings())
    claims = {"preferred_username": "dana", "groups": ["eng", "sre", "other"]}
    assert provider.principal(claims) == Principal("dana", Role.responder, "oidc")
    assert provider.principal({**claims, "groups": "sre-leads"}).role == Role.admin
    with pytest.raises(SignInFailed, match="dana is in no group that has a warroom role"):
        provider.principal({**claims, "groups": ["sales"]})
    with pytest.raises(SignInFailed, match="no 'preferred_username' claim"):
        provider.principal({"groups": ["sre"]})


def test_an_email_claim_names_the_person_of_the_people_file():
    people = People({"dana-oncall": Person(email="Dana@Example.com")})
    provider = Provider(settings(WARROOM_OIDC_NAME_CLAIM="email"), people)
    claims = {"email": "dana@example.com", "groups": ["sre"]}
    assert provider.principal(claims).identity == "dana-oncall"
    with pytest.raises(
        SignInFailed, match=re.escape("mallory@example.com is not in the people file")
    ):
        provider.principal({**claims, "email": "mallory@example.com"})
