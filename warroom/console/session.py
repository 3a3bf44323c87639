"""Who uses the console, and the checks on every form.

With API tokens, a person signs in once with their token; it is kept in an HttpOnly,
SameSite=Strict cookie and every decision is taken as the token's identity (the tokens of
`warroom.access.tokens`, as the API's). Without tokens (the API then listens on loopback
only) a person gives a name, kept the same way. Every form carries a CSRF token: the value of a random cookie that only
the server sees (double submit; the cookie is SameSite=Strict too).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import TypeAdapter, ValidationError
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.access.tokens import Tokens
from warroom.contract.models import PersonName

SESSION_COOKIE = "warroom_session"
CSRF_COOKIE = "warroom_csrf"
PREFIX = "/console"
#: Scripts, styles and everything else from this origin only; no inline script or style.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_NAME = TypeAdapter(PersonName)


class SignInNeeded(Exception):
    """No (valid) session: the page sends the person to the sign-in form."""


class FormRejected(Exception):
    """A form without the right CSRF token, or not a form at all."""


def identity(request: Request) -> str | None:
    """Whose session this is: the token's identity, or (without tokens) the name given."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    tokens: Tokens = request.app.state.tokens
    if tokens:
        return tokens.identity(value)
    return value if valid_name(value) else None


def valid_name(name: str) -> bool:
    try:
        _NAME.validate_python(name)
    except ValidationError:
        return False
    return True


def who(request: Request) -> str:
    """FastAPI dependency: the signed-in person, or off to the sign-in form."""
    person = identity(request)
    if person is None:
        raise SignInNeeded()
    return person


async def sign_in_redirect(request: Request, _: SignInNeeded) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or not target.startswith(PREFIX):
        target = f"{PREFIX}/"
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target)}", 303)


def csrf_token(request: Request) -> str:
    token: str = request.state.csrf
    return token


async def form(request: Request) -> dict[str, str]:
    """The posted form (one value per field), once its CSRF token matched the cookie's."""
    # Read as urlencoded whatever its content type says (the API's body limit marks every
    # body as JSON for its own routes); without the matching token it is refused anyway.
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(fields.pop("csrf", "").encode(), expected.encode()):
        raise FormRejected("the form's CSRF token does not match: reload the page and try again")
    return fields


def keep(request: Request, response: Response, name: str, value: str) -> None:
    """A cookie scripts cannot read and other sites cannot send (HTTPS only, behind HTTPS)."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        path=PREFIX,
        secure=request.url.scheme == "https",
    )


async def secure(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
    """Middleware: console pages get a CSRF cookie and the security headers."""
    if not request.url.path.startswith(PREFIX):
        return await call_next(request)
    fresh = request.cookies.get(CSRF_COOKIE) is None
    request.state.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = await call_next(request)
    if fresh:
        keep(request, response, CSRF_COOKIE, request.state.csrf)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


class Secured:
    """ASGI middleware: `secure` on console paths only. Starlette's `BaseHTTPMiddleware` costs a
    task group and a response stream per request: the API's own requests skip it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.secured = app, BaseHTTPMiddleware(app, dispatch=secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.secured(scope, receive, send)
        else:
            await self.app(scope, receive, send)
