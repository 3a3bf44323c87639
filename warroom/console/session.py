"""Who uses the console, and the checks on every form.

With OpenID Connect configured (`warroom.console.oidc`), a person signs in at the identity
provider; with API tokens, a person signs in once with their token; the console keeps a signed
session naming the identity, its role and how it signed in (never the token:
`warroom.access.sessions`) in an HttpOnly, SameSite cookie of this server's own name (Strict;
Lax with OpenID Connect, whose sign-in comes back from the provider's site), and every decision
is taken as that identity, if its role allows (`warroom.access.roles`, as the API's). Without
tokens (the API then listens on loopback only) a person gives a name, kept the same way, and
may do anything. Every form carries the
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

from warroom.access import audit
from warroom.access.roles import Principal, Role, require
from warroom.access.sessions import Session, Sessions
from warroom.access.tokens import Tokens
from warroom.contract.models import PersonName

PREFIX = "/console"
#: The session cookie's path: the whole server, for the codec server (`/codec`, which the
#: Temporal UI calls with credentials) reads the session too. The API's other routes never
#: read it (a bearer token only), so another site's request can act on nothing through it.
SESSION_PATH = "/"
#: Scripts, styles and everything else from this origin only; no inline script or style.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_NAME = TypeAdapter(PersonName)


def csp(request: Request) -> str:
    """CSP; with OpenID Connect, the sign-out form may lead on to the provider's end-session
    page (a browser checks `form-action` on the redirect too)."""
    oidc = getattr(request.app.state, "oidc", None)
    if oidc is None:
        return CSP
    return CSP.replace("form-action 'self'", " ".join(["form-action 'self'", *oidc.origins()]))


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


def principal_of(request: Request) -> Principal | None:
    """The signed-in person, their role and how they signed in; None before sign-in."""
    session: Session | None = getattr(request.state, "session", None)
    return session.principal() if session is not None else None


def may_act(request: Request) -> bool:
    """Whether the page shows the forms that act (a responder or more)."""
    found = principal_of(request)
    return found is not None and found.role is not None and found.role >= Role.responder


def _signed_in(request: Request, role: Role) -> Principal:
    found = principal_of(request)
    if found is None:
        raise SignInNeeded()
    return require(found, role, f"{request.method} {request.url.path}")


def who(request: Request) -> str:
    """FastAPI dependency: the signed-in person (a viewer or more), or off to the sign-in form."""
    return _signed_in(request, Role.viewer).identity


def actor(request: Request) -> Principal:
    """FastAPI dependency: the signed-in person, who must be a responder or more (403 else)."""
    return _signed_in(request, Role.responder)


def local_target(target: str) -> str:
    """Where to go after sign-in: a console page, never another site."""
    if not target.startswith(f"{PREFIX}/") or target.startswith("//") or "\\" in target:
        return f"{PREFIX}/"
    return target


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


def start(request: Request, response: Response, person: Principal) -> None:
    """Sign `person` in: a new session (never the one the browser brought), in the cookie."""
    role = person.role.name if person.role is not None else None
    _, value = sessions_of(request).new(person.identity, role, person.via)
    keep(request, response, sessions_of(request).cookie_name, value, path=SESSION_PATH)
    audit.signed_in(person.identity, person.via, role or "none")


def end(request: Request, response: Response) -> None:
    found = principal_of(request)
    if found is not None:
        audit.signed_out(found.identity, found.via)
    for path in (SESSION_PATH, PREFIX):  # PREFIX: where sessions were kept before (an upgrade)
        response.delete_cookie(sessions_of(request).cookie_name, path=path)


def keep(
    request: Request,
    response: Response,
    name: str,
    value: str,
    max_age: int | None = None,
    path: str = PREFIX,
) -> None:
    """A cookie scripts cannot read and other sites cannot send (HTTPS only, behind HTTPS);
    Lax with OpenID Connect: the provider's redirect back is a navigation from its site."""
    oidc = getattr(request.app.state, "oidc", None)
    https = request.url.scheme == "https" or (
        oidc is not None and oidc.settings.public_url.startswith("https://")
    )
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax" if oidc is not None else "strict",
        path=path,
        secure=https,
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
        keep(request, response, sessions.cookie_name, fresh, path=SESSION_PATH)
    response.headers["Content-Security-Policy"] = csp(request)
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
