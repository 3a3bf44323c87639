"""The API's caller: with tokens (`warroom.access.tokens`) every request needs `Authorization:
Bearer TOKEN`, and acts as the token's identity; without them the API listens on loopback only."""

from __future__ import annotations

from fastapi import HTTPException, Request

from warroom.access.tokens import Tokens


async def caller(request: Request) -> str | None:
    """FastAPI dependency: the caller's identity (None when the API runs without tokens).
    Async though it awaits nothing: FastAPI runs a plain function in a thread, per request."""
    tokens: Tokens = request.app.state.tokens
    if not tokens:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    who = tokens.identity(token.strip()) if scheme.lower() == "bearer" else None
    if who is None:
        raise HTTPException(
            401,
            "a valid `Authorization: Bearer TOKEN` header is required",
            {"WWW-Authenticate": "Bearer"},
        )
    return who
