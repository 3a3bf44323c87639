"""Who uses the console, and the checks on every form.

With API tokens, a person signs in once with their token; the console keeps a signed session
naming the token's identity (never the token: `warroom.access.sessions`) in an HttpOnly,
SameSite=Strict cookie of this server's own name, and every decision is taken as that
identity (the tokens of `warroom.access.tokens`, as the API's). Without tokens (the API then
listens on loopback only) a person gives a name, kept the same way. Every form carries the
session's CSRF token, which only the server can derive from the session: a cookie or field
planted by another page on this host matches nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import TypeAdapter, ValidationError
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.access.sessions import Session, Sessions
from warroom.access.tokens import Tokens
from warroom.contract.models import PersonName

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


class FormInvalid(Exception):
    """A form with fields its page never sends (or one twice): 400, nothing done."""


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def session_of(request: Request) -> Session:
    """The request's session (a fresh one, not signed in, when it brought none)."""
    session: Session = request.state.session
    return session


def identity(request: Request) -> str | None:
    """Whose session this is: the token's identity, or (without tokens) the name given."""
    session: Session | None = getattr(request.state, "session", None)
    return session.identity if session is not None else None


def valid_name(request: Request, name: str) -> bool:
    """A name a person may sign in with: one printable line, and no API token in it."""
    try:
        _NAME.validate_python(name)
    except ValidationError:
        return False
    tokens: Tokens = request.app.state.tokens
    return not tokens.found_in(name)


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


async def form(
    request: Request, fields: Collection[str] = (), prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """The posted form (urlencoded, as `warroom.api.same_origin` lets through), once its CSRF
    token matched the session's; FormInvalid for a field not in `fields` (nor starting with
    one of `prefixes`), or one given twice."""
    body = (await request.body()).decode("utf-8", errors="replace")
    posted = parse_qs(body, keep_blank_values=True)
    given = posted.pop("csrf", [""])
    if len(given) != 1 or not sessions_of(request).csrf_matches(session_of(request), given[0]):
        raise FormRejected("the form's CSRF token does not match: reload the page and try again")
    unexpected = sorted(k for k in posted if k not in fields and not k.startswith(prefixes))
    if unexpected:
        raise FormInvalid(f"unexpected form field {_names(unexpected)}")
    twice = sorted(k for k, v in posted.items() if len(v) > 1)
    if twice:
        raise FormInvalid(f"form field {_names(twice)} given more than once")
    return {k: v[0] for k, v in posted.items()}


def _names(fields: list[str]) -> str:
    return ", ".join(repr(f[:40]) for f in fields[:5]) + (", …" if len(fields) > 5 else "")


def start(request: Request, response: Response, person: str) -> None:
    """Sign `person` in: a new session (never the one the browser brought), in the cookie."""
    _, value = sessions_of(request).new(person)
    keep(request, response, sessions_of(request).cookie_name, value)


def end(request: Request, response: Response) -> None:
    response.delete_cookie(sessions_of(request).cookie_name, path=PREFIX)


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
    """Middleware: console pages get their session (a fresh one, not signed in, when the
    browser brings none this server signed), its CSRF token, and the security headers."""
    if not request.url.path.startswith(PREFIX):
        return await call_next(request)
    sessions = sessions_of(request)
    session = sessions.read(request.cookies.get(sessions.cookie_name, ""))
    fresh: str | None = None
    if session is None:
        session, fresh = sessions.new()
    request.state.session = session
    request.state.csrf = sessions.csrf(session)
    response = await call_next(request)
    named = f"{sessions.cookie_name}=".encode()
    if fresh is not None and not any(
        v.startswith(named) for k, v in response.raw_headers if k == b"set-cookie"
    ):
        keep(request, response, sessions.cookie_name, fresh)
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
