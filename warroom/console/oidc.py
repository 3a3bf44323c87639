"""The console's OpenID Connect sign-in (`warroom.access.oidc`): `/console/sign-in/oidc` sends
the browser to the provider, with the flow's state, nonce and PKCE verifier in a signed,
HttpOnly cookie that lives ten minutes; `/console/oidc/callback` (the redirect URI) checks the
provider's answer against it and starts the session. A refused sign-in is a page saying why;
nothing is signed in."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from warroom.access.oidc import SIGN_IN_SECONDS, Pending, Provider, SignInFailed
from warroom.console import pages, session

router = APIRouter(prefix=session.PREFIX, include_in_schema=False, route_class=pages.ConsoleRoute)
FLOW = "oidc sign-in"


def provider_of(request: Request) -> Provider | None:
    provider: Provider | None = request.app.state.oidc
    return provider


def flow_cookie(request: Request) -> str:
    return session.sessions_of(request).cookie_name + "_oidc"


@router.get("/sign-in/oidc")
async def begin(request: Request, next: str = f"{session.PREFIX}/") -> Response:
    provider = provider_of(request)
    if provider is None:
        return pages.sign_in_page(request, 404, next, "sign-in with an identity provider is off")
    try:
        pending = await provider.begin()
    except SignInFailed as exc:
        return pages.sign_in_page(request, 503, next, str(exc))
    sealed = session.sessions_of(request).seal(
        FLOW, [pending.url, pending.state, pending.nonce, pending.verifier, next]
    )
    response = RedirectResponse(pending.url, 303)
    session.keep(request, response, flow_cookie(request), sealed, max_age=SIGN_IN_SECONDS)
    return response


@router.get("/oidc/callback")
async def callback(request: Request) -> Response:
    provider = provider_of(request)
    if provider is None:
        return pages.sign_in_page(request, 404, error="sign-in with an identity provider is off")
    flow = session.sessions_of(request).unseal(
        FLOW, request.cookies.get(flow_cookie(request), ""), SIGN_IN_SECONDS
    )
    pending = Pending(*flow[:4]) if isinstance(flow, list) and len(flow) == 5 else None
    target = session.local_target(flow[4] if pending is not None else "")
    try:
        person = await provider.finish(dict(request.query_params), pending)
    except SignInFailed as exc:
        response: Response = pages.sign_in_page(request, 401, target, f"not signed in: {exc}")
    else:
        response = RedirectResponse(target, 303)
        session.start(request, response, person)
    response.delete_cookie(flow_cookie(request), path=session.PREFIX)
    return response
