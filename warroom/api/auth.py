"""The API's caller: with tokens (`warroom.access.tokens`) every request needs `Authorization:
Bearer TOKEN`, acts as the token's identity, and may do what its role allows (`warroom.access
.roles`: 403 naming the role needed); without tokens the API listens on loopback only and
anyone on the machine may do anything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from warroom.access.roles import ALERTS, Principal, Role, require, require_scope
from warroom.access.tokens import Tokens


def principal(request: Request) -> Principal | None:
    """Who calls (None when the API runs without tokens); 401 without a known token."""
    tokens: Tokens = request.app.state.tokens
    if not tokens:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    found = tokens.principal(token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise HTTPException(
            401,
            "a valid `Authorization: Bearer TOKEN` header is required",
            {"WWW-Authenticate": "Bearer"},
        )
    return found


def action_of(request: Request) -> str:
    route = getattr(request.scope.get("route"), "path", request.url.path)
    return f"{request.method} {route}"


def needs(role: Role) -> Callable[[Request], Awaitable[Principal | None]]:
    """FastAPI dependency: the caller, who must have `role` (None without tokens).
    Async though it awaits nothing: FastAPI runs a plain function in a thread, per request."""

    async def check(request: Request) -> Principal | None:
        found = principal(request)
        return found if found is None else require(found, role, action_of(request))

    return check


_viewer = needs(Role.viewer)
#: FastAPI dependency: a caller who may act (declare, decide): a responder or more.
acting = needs(Role.responder)


async def caller(request: Request) -> str | None:
    """FastAPI dependency: the identity of a caller who may read (a viewer or more)."""
    found = await _viewer(request)
    return found.identity if found is not None else None


async def alert_sender(request: Request) -> str | None:
    """FastAPI dependency: who sends alerts: a token with the `alerts` scope (or a responder)."""
    found = principal(request)
    if found is None:
        return None
    return require_scope(found, ALERTS, action_of(request)).identity
