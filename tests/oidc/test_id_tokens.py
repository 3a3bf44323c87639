"""The ID token checks, against the real provider's discovery document and JWKS: a token
signed with the provider's key but from another issuer, for another audience, with another
nonce, expired, or signed with a key the provider does not publish, signs nobody in (authlib
and joserfc check them; these tests make sure warroom asks them to)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc import jwt

from tests.oidc.openid_provider import CLIENT_ID, OpenIdProvider, signing_key
from warroom.access.oidc import OidcSettings, Pending, Provider, SignInFailed
from warroom.access.roles import Principal, Role
from warroom.entry.devstack import free_port

pytestmark = pytest.mark.slow

PUBLIC = "http://127.0.0.1:1"


@pytest.fixture(scope="module")
def openid() -> AsyncIterator[OpenIdProvider]:
    provider = OpenIdProvider(free_port(), f"{PUBLIC}/console/oidc/callback", f"{PUBLIC}/").start()
    yield provider
    provider.stop()


def warroom_side(openid: OpenIdProvider) -> Provider:
    settings = OidcSettings.from_env({**openid.env(), "WARROOM_PUBLIC_URL": PUBLIC})
    assert settings is not None
    return Provider(settings)


def id_token(openid: OpenIdProvider, key: Any = None, **changes: Any) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": openid.issuer,
        "aud": CLIENT_ID,
        "sub": "dana-oncall",
        "preferred_username": "dana-oncall",
        "groups": ["sre"],
        "nonce": "the-nonce",
        "iat": now,
        "exp": now + 300,
        **changes,
    }
    key = key or openid.keys[0]
    token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
    return {"id_token": token, "access_token": "at", "token_type": "Bearer"}


async def test_a_token_signed_by_the_provider_for_this_client_signs_in(openid):
    claims = await warroom_side(openid).verify(id_token(openid), "the-nonce")
    assert warroom_side(openid).principal(claims) == Principal(
        "dana-oncall", Role.responder, "oidc"
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "http://127.0.0.1:2"}, "not for this sign-in (Invalid claim: 'iss')"),
        ({"aud": "another-client"}, "not for this sign-in (Invalid claim: 'aud')"),
        ({"nonce": "another-nonce"}, "not for this sign-in (Invalid claim: 'nonce')"),
        ({"exp": int(time.time()) - 3600}, "the ID token has expired"),
    ],
)
async def test_a_token_for_anything_else_is_refused(openid, changes, reason):
    with pytest.raises(SignInFailed) as refused:
        await warroom_side(openid).verify(id_token(openid, **changes), "the-nonce")
    assert reason in str(refused.value)


async def test_a_key_the_provider_does_not_publish_is_refused_after_one_refetch(openid):
    side = warroom_side(openid)
    await side.verify(id_token(openid), "the-nonce")  # JWKS cached
    fetched = []
    fetch = side._client.fetch_jwk_set

    async def counting(force: bool = False) -> Any:
        fetched.append(force)
        return await fetch(force=force)

    side._client.fetch_jwk_set = counting
    with pytest.raises(
        SignInFailed, match="signed with a key the identity provider does not publish"
    ):
        await side.verify(id_token(openid, key=signing_key("stranger")), "the-nonce")
    assert fetched == [False, True]


async def test_a_callback_without_the_flow_or_with_the_providers_error_signs_nobody_in(openid):
    side = warroom_side(openid)
    pending = Pending("u", "the-state", "n", "v")
    for answer, flow, reason in [
        ({"code": "c", "state": "the-state"}, None, "not started here"),
        ({"code": "c", "state": "other"}, pending, "state does not match"),
        (
            {"error": "access_denied", "state": "the-state"},
            pending,
            "refused the sign-in: access_denied",
        ),
        ({"code": "forged", "state": "the-state"}, pending, "refused the code"),
    ]:
        with pytest.raises(SignInFailed, match=reason):
            await side.finish(answer, flow)
