"""Sign-in with the company's OpenID Connect provider: the authorization code flow with PKCE,
through authlib (discovery document and JWKS fetched once and cached; an ID token signed with
a key the cache does not know refetches the JWKS once; authlib and joserfc check the token's
signature, issuer, audience, expiry and nonce — nothing here parses a JWT by hand).

Configured from the environment (`OidcSettings.from_env`); `Provider.begin` gives the URL to
send the browser to and what the callback must match (kept by the console in a signed,
short-lived cookie), `Provider.finish` turns the callback into a `Principal`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import BaseApp
from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin

with warnings.catch_warnings():
    # authlib 1.9 prefers the `httpx2` fork and says so once; httpx is what warroom uses.
    warnings.filterwarnings("ignore", "The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc.errors import ExpiredTokenError, InvalidClaimError, InvalidKeyIdError, JoseError

from warroom.access import audit
from warroom.access.roles import Principal, Role, role_named
from warroom.errors import WarroomError
from warroom.language.people import People, load_people, people_path

ISSUER_ENV = "WARROOM_OIDC_ISSUER"
CLIENT_ID_ENV = "WARROOM_OIDC_CLIENT_ID"
CLIENT_SECRET_ENV = "WARROOM_OIDC_CLIENT_SECRET"
NAME_CLAIM_ENV = "WARROOM_OIDC_NAME_CLAIM"
ROLES_ENV = "WARROOM_OIDC_ROLES"
GROUPS_CLAIM_ENV = "WARROOM_OIDC_GROUPS_CLAIM"
TOKEN_FORM_ENV = "WARROOM_OIDC_KEEP_TOKEN_SIGN_IN"
PUBLIC_URL_ENV = "WARROOM_PUBLIC_URL"
#: Where the provider sends the browser back to, under `WARROOM_PUBLIC_URL`.
CALLBACK_PATH = "/console/oidc/callback"
SCOPES = "openid profile email groups"
NAME_CLAIMS = ("preferred_username", "email")
#: How long a sign-in may take at the provider (the state, nonce and PKCE verifier live that long).
SIGN_IN_SECONDS = 600
#: Leeway for the provider's and this machine's clocks, in seconds.
LEEWAY = 60


class SignInFailed(WarroomError):
    """The provider's answer does not sign anyone in: the reason, for the page."""


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    public_url: str
    #: groups → role; a person in several groups gets the highest role.
    roles: Mapping[str, Role]
    name_claim: str = "preferred_username"
    groups_claim: str = "groups"
    #: Keep the console's token (or name) sign-in form beside the provider's.
    keep_token_form: bool = False

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + CALLBACK_PATH

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OidcSettings | None:
        """The settings of the environment; None when `WARROOM_OIDC_ISSUER` is not set."""
        env = os.environ if env is None else env
        issuer = env.get(ISSUER_ENV, "").strip()
        if not issuer:
            return None
        missing = [
            n for n in (CLIENT_ID_ENV, CLIENT_SECRET_ENV, PUBLIC_URL_ENV) if not env.get(n, "")
        ]
        if missing:
            raise WarroomError(f"{ISSUER_ENV} is set: set {', '.join(missing)} too")
        name_claim = env.get(NAME_CLAIM_ENV, "preferred_username").strip()
        if name_claim not in NAME_CLAIMS:
            raise WarroomError(f"{NAME_CLAIM_ENV}: use one of {', '.join(NAME_CLAIMS)}")
        public_url = env[PUBLIC_URL_ENV].split(",")[0].strip()
        if not public_url.startswith(("https://", "http://")):
            raise WarroomError(f"{PUBLIC_URL_ENV}: {public_url!r} is not an http(s) URL")
        return cls(
            issuer=issuer.rstrip("/"),
            client_id=env[CLIENT_ID_ENV].strip(),
            client_secret=env[CLIENT_SECRET_ENV],
            public_url=public_url,
            roles=parse_roles(env.get(ROLES_ENV, "")),
            name_claim=name_claim,
            groups_claim=env.get(GROUPS_CLAIM_ENV, "groups").strip() or "groups",
            keep_token_form=env.get(TOKEN_FORM_ENV, "").strip().lower() in ("1", "true", "yes"),
        )


def parse_roles(text: str) -> dict[str, Role]:
    """`{sre: responder, eng: viewer, sre-leads: admin}` (YAML or JSON) → group → role."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise WarroomError(f"{ROLES_ENV}: not YAML ({exc})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise WarroomError(f"{ROLES_ENV}: write group: role pairs, as {{sre: responder}}")
    try:
        return {group: role_named(role) for group, role in data.items()}
    except WarroomError as exc:
        raise WarroomError(f"{ROLES_ENV}: {exc}") from None


@dataclass(frozen=True)
class Pending:
    """A sign-in under way: where to send the browser, and what its return must match."""

    url: str
    state: str
    nonce: str
    verifier: str


class _Client(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):  # type: ignore[misc]
    """authlib's OpenID Connect client, as its Starlette integration builds it, without
    the framework (the console keeps the flow's state in its own signed cookie)."""

    client_cls = AsyncOAuth2Client


@dataclass
class Provider:
    settings: OidcSettings
    people: People = field(default_factory=People)

    def __post_init__(self) -> None:
        self._client = _Client(
            None,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            server_metadata_url=f"{self.settings.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPES, "code_challenge_method": "S256", "timeout": 10},
        )

    async def _metadata(self) -> dict[str, Any]:
        try:
            metadata: dict[str, Any] = await self._client.load_server_metadata()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(
                f"the identity provider {self.settings.issuer} did not answer ({exc}); retry later"
            ) from None
        if metadata.get("issuer", "").rstrip("/") != self.settings.issuer:
            raise SignInFailed(
                f"the provider's discovery document names issuer {metadata.get('issuer')!r}, "
                f"not {self.settings.issuer!r}: check {ISSUER_ENV}"
            )
        return metadata

    async def begin(self) -> Pending:
        await self._metadata()
        made = await self._client.create_authorization_url(self.settings.redirect_uri)
        return Pending(made["url"], made["state"], made["nonce"], made["code_verifier"])

    async def finish(self, answer: Mapping[str, str], pending: Pending | None) -> Principal:
        """The person the provider's answer (the callback's query) signs in; SignInFailed
        (audited) when it signs nobody in."""
        try:
            return await self._finish(answer, pending)
        except SignInFailed as exc:
            audit.sign_in_refused("oidc", str(exc))
            raise

    async def _finish(self, answer: Mapping[str, str], pending: Pending | None) -> Principal:
        if pending is None:
            raise SignInFailed(
                "this sign-in was not started here, or took longer than "
                f"{SIGN_IN_SECONDS // 60} minutes: sign in again"
            )
        if answer.get("error"):
            said = answer.get("error_description") or answer["error"]
            raise SignInFailed(f"the identity provider refused the sign-in: {said}")
        if answer.get("state") != pending.state:
            raise SignInFailed("the sign-in's state does not match this browser's: sign in again")
        if not answer.get("code"):
            raise SignInFailed("the identity provider sent no authorization code: sign in again")
        await self._metadata()
        try:
            token = await self._client.fetch_access_token(
                redirect_uri=self.settings.redirect_uri,
                code=answer["code"],
                code_verifier=pending.verifier,
            )
        except (httpx.HTTPError, AuthlibBaseError, ValueError) as exc:
            raise SignInFailed(f"the identity provider refused the code ({exc})") from None
        if "id_token" not in token:
            raise SignInFailed("the identity provider sent no ID token: is `openid` allowed?")
        claims = await self.verify(token, pending.nonce)
        return self.principal(claims)

    async def verify(self, token: Mapping[str, Any], nonce: str) -> dict[str, Any]:
        """The ID token's claims, once authlib checked its signature (refetching the JWKS
        once for a key it does not know), issuer, audience, times and nonce."""
        options = {
            "iss": {"essential": True, "value": self.settings.issuer},
            "aud": {"essential": True, "value": self.settings.client_id},
        }
        try:
            claims = await self._client.parse_id_token(
                dict(token), nonce, claims_options=options, leeway=LEEWAY
            )
        except InvalidKeyIdError:
            raise SignInFailed(
                "the ID token is signed with a key the identity provider does not publish"
            ) from None
        except ExpiredTokenError:
            raise SignInFailed("the ID token has expired: sign in again") from None
        except InvalidClaimError as exc:
            raise SignInFailed(
                f"the ID token is not for this sign-in ({exc.description})"
            ) from None
        except JoseError as exc:
            raise SignInFailed(f"the ID token is not valid ({exc.description})") from None
        except ValueError as exc:
            raise SignInFailed(f"the ID token is not valid ({exc})") from None
        return dict(claims)

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """Who the claims name (the configured claim; an e-mail through the people file) and
        their role (the highest of their groups'): SignInFailed for someone with neither."""
        claim = self.settings.name_claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value:
            raise SignInFailed(f"the ID token has no {claim!r} claim: ask for the right scope")
        name = self.people.by_email(value) if claim == "email" else value
        if name is None:
            raise SignInFailed(f"{value} is not in the people file: ask an admin to add them")
        groups = claims.get(self.settings.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        roles = [self.settings.roles[g] for g in groups if g in self.settings.roles]
        if not roles:
            raise SignInFailed(
                f"{name} is in no group that has a warroom role: ask an admin "
                f"(groups with one: {', '.join(sorted(self.settings.roles)) or 'none'})"
            )
        return Principal(name, max(roles), "oidc")

    def origins(self) -> list[str]:
        """The provider's origins the console's sign-out form may lead to (its end-session
        endpoint's, once the discovery document is in)."""
        found = [_origin(self.settings.issuer)]
        ending = self._client.server_metadata.get("end_session_endpoint")
        if isinstance(ending, str) and _origin(ending) not in found:
            found.append(_origin(ending))
        return found

    async def end_session_url(self) -> str | None:
        """Where to send the browser to sign out at the provider too (None when it has no
        end-session endpoint)."""
        try:
            metadata = await self._metadata()
        except SignInFailed:
            return None
        if not metadata.get("end_session_endpoint"):
            return None
        made = await self._client.create_logout_url(
            post_logout_redirect_uri=f"{self.settings.public_url.rstrip('/')}/console/sign-in",
            client_id=self.settings.client_id,
        )
        url: str = made["url"]
        return url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def people_for(settings: OidcSettings) -> People:
    """The people file, when names come from e-mail addresses."""
    if settings.name_claim != "email":
        return People()
    runbooks = os.environ.get("WARROOM_RUNBOOKS")
    return load_people(people_path(Path(runbooks) if runbooks else None))
