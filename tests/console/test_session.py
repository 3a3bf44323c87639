"""Sign-in and form checks of the console, without a browser or Temporal: a name without
tokens, a token with them, kept in an HttpOnly SameSite=Strict cookie; forms without the
CSRF token do nothing; every console response carries the CSP."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import urlencode

import httpx
import pytest

from warroom.access.sessions import HOURS_ENV, Sessions
from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.entry.web import web_app
from warroom.errors import WarroomError
from warroom.language.catalogue import Catalogue

TOKEN = "dana-token-0123456789abcdef"


def console(tokens: dict[str, str] | None = None) -> httpx.AsyncClient:
    app = web_app(Catalogue.load(), Temporal(address="127.0.0.1:1"), tokens=Tokens(tokens or {}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


async def csrf_of(http: httpx.AsyncClient) -> str:
    page = await http.get("/console/sign-in")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def session_cookie(response: httpx.Response) -> str:
    cookie = next(c for c in response.headers.get_list("set-cookie") if "warroom_session_" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie, cookie
    return cookie


async def test_without_tokens_a_name_signs_in():
    async with console() as http:
        assert (await http.get("/console/")).headers["location"] == (
            "/console/sign-in?next=/console/"
        )
        csrf = await csrf_of(http)
        assert "Your name" in (await http.get("/console/sign-in")).text
        signed = await http.post(
            "/console/sign-in", data={"csrf": csrf, "name": "dana", "next": "/console/runbooks"}
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/console/runbooks"
        assert "=dana;" not in session_cookie(signed)  # signed, never taken at its word
        runbooks = await http.get("/console/runbooks")
        assert "Signed in as <strong>dana</strong>" in runbooks.text
        assert "Declare an incident with demo-checkout" in runbooks.text


async def test_with_tokens_only_a_valid_token_signs_in_and_a_form_needs_its_csrf_token():
    async with console({TOKEN: "dana-oncall"}) as http:
        csrf = await csrf_of(http)
        bad = await http.post("/console/sign-in", data={"csrf": csrf, "token": "x" * 20})
        assert bad.status_code == 401 and "that token is not valid" in bad.text
        forged = await http.post("/console/sign-in", data={"csrf": "guess", "token": TOKEN})
        assert forged.status_code == 403 and "CSRF token does not match" in forged.text
        assert "set-cookie" not in forged.headers
        signed = await http.post(
            "/console/sign-in", data={"csrf": csrf, "token": TOKEN, "next": "//evil.example/"}
        )
        assert signed.headers["location"] == "/console/"  # only pages of the console
        session_cookie(signed)
        page = await http.get("/console/runbooks")
        assert "Signed in as <strong>dana-oncall</strong>" in page.text


@pytest.mark.parametrize("path", ["/console/declare", "/console/incidents/inc-x-1/approve"])
async def test_a_post_without_the_csrf_token_does_nothing(path):
    async with console() as http:
        csrf = await csrf_of(http)
        await http.post("/console/sign-in", data={"csrf": csrf, "name": "dana"})
        refused = await http.post(path, data={"runbook": "general", "summary": "x", "step": "s"})
        assert refused.status_code == 403 and "CSRF token does not match" in refused.text


async def test_temporal_down_is_said_on_the_page():
    async with console() as http:
        csrf = await csrf_of(http)
        await http.post("/console/sign-in", data={"csrf": csrf, "name": "dana"})
        page = await http.get("/console/incidents/inc-x-1")
        assert page.status_code == 503 and "text/html" in page.headers["content-type"]
        assert re.search(r'class="flash error" role="alert">.*retry later</p>', page.text)


@pytest.mark.parametrize(
    ("word", "form", "reason"),
    [
        ("note", {"text": "hi", "by": "bob"}, "unexpected form field 'by'"),
        ("approve", {"step": "fix", "by": "bob"}, "unexpected form field 'by'"),
        ("ack", {"by": "bob"}, "unexpected form field 'by'"),
        ("ack", {"deadline": "2030-01-01T00:00:00Z"}, "unexpected form field 'deadline'"),
        ("resolve", {"comment": "x", "zzz": "1", "aaa": "2"}, "unexpected form field 'aaa', 'zzz'"),
        ("approve", [("step", "a"), ("step", "b")], "form field 'step' given more than once"),
    ],
)
async def test_a_console_form_with_fields_its_page_never_sends_is_a_400(word, form, reason):
    async with console() as http:
        csrf = await csrf_of(http)
        await http.post("/console/sign-in", data={"csrf": csrf, "name": "dana"})
        csrf = await csrf_of(http)  # signing in starts a new session, with a new CSRF token
        body = [("csrf", csrf), *(form.items() if isinstance(form, dict) else form)]
        refused = await http.post(
            f"/console/incidents/inc-x-1/{word}",
            content=urlencode(body),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert refused.status_code == 400, refused.text
        line = re.search(r'class="flash error" role="alert">([^<]*)</p>', refused.text)
        assert line is not None and html.unescape(line.group(1)) == f"{reason}: nothing was done"


async def test_with_tokens_a_console_form_carrying_a_token_is_refused():
    async with console({TOKEN: "dana-oncall"}) as http:
        csrf = await csrf_of(http)
        await http.post("/console/sign-in", data={"csrf": csrf, "token": TOKEN})
        csrf = await csrf_of(http)  # a new session: a new CSRF token
        refused = await http.post(
            "/console/declare", data={"csrf": csrf, "runbook": "general", "summary": TOKEN}
        )
        assert refused.status_code == 422 and "an API token is never a name" in refused.text


@pytest.mark.parametrize(("age", "signed_in"), [(3600 - 5, True), (3600 + 5, False)])
async def test_warroom_session_hours_is_how_long_a_session_lasts(
    monkeypatch: pytest.MonkeyPatch, age: int, signed_in: bool
) -> None:
    monkeypatch.setenv(HOURS_ENV, "1")
    app = web_app(Catalogue.load(), Temporal(address="127.0.0.1:1"), tokens=Tokens({}))
    sessions: Sessions = app.state.sessions
    assert sessions.lifetime == 3600
    # A session signed by this server `age` seconds ago (its clock set back by that much).
    then = Sessions(sessions._key, clock=lambda: time.time() - age)
    _, value = then.new("dana", "responder", "session")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        http.cookies.set(sessions.cookie_name, value)
        page = await http.get("/console/runbooks")
    if signed_in:
        assert page.status_code == 200 and "Signed in as <strong>dana</strong>" in page.text
    else:
        assert page.status_code == 303
        assert page.headers["location"] == "/console/sign-in?next=/console/runbooks"


@pytest.mark.parametrize("hours", ["0", "721", "1.5", "twelve", "-3"])
def test_a_bad_warroom_session_hours_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, hours: str
) -> None:
    monkeypatch.setenv(HOURS_ENV, hours)
    with pytest.raises(WarroomError) as caught:
        web_app(Catalogue.load(), Temporal(address="127.0.0.1:1"), tokens=Tokens({}))
    assert str(caught.value) == (
        f"WARROOM_SESSION_HOURS={hours!r}: write a whole number of hours from 1 to 720, "
        "e.g. WARROOM_SESSION_HOURS=12 (the default)"
    )
