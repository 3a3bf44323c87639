"""The web console: the incident room in a browser, served by the API process.

Server-rendered pages (Jinja2, autoescaped), one stylesheet, one small script for the live
parts (Server-Sent Events); every action is a plain form POST with a CSRF token, taken
through the same application code as the API (`warroom.incidents`). `mount` adds it to the
API app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from warroom.access.oidc import OidcSettings, Provider, people_for
from warroom.access.sessions import Sessions, session_seconds
from warroom.console import live, oidc, oncall, pages, session

STATIC = Path(__file__).parent / "static"
#: Where the console's HTML forms post (urlencoded, each with its CSRF token).
FORMS_UNDER = (f"{session.PREFIX}/",)


def mount(app: FastAPI) -> None:
    """The console's pages under /console, its static files, the login redirect, and the
    security headers (CSP without inline script) on every console response."""
    settings = OidcSettings.from_env()
    app.state.oidc = Provider(settings, people_for(settings)) if settings else None
    app.state.sign_in_form = settings is None or settings.keep_token_form
    secret = settings.client_secret if settings else ""
    lifetime = session_seconds()
    app.state.sessions = Sessions.for_tokens(app.state.tokens, secret, lifetime)
    app.include_router(pages.router)
    app.include_router(oidc.router)
    app.include_router(oncall.router)
    app.include_router(live.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(session.SignInNeeded, session.sign_in_redirect)  # type: ignore[arg-type]
    app.add_exception_handler(session.FormRejected, pages.form_rejected)  # type: ignore[arg-type]
    app.add_exception_handler(session.FormInvalid, pages.form_invalid)  # type: ignore[arg-type]
    app.add_middleware(session.Secured)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/", 303)
