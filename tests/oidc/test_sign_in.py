"""OpenID Connect sign-in in a real browser against a real provider: `warroom dev` (with a
tokens file for the test's own API calls) configured for npm's `oidc-provider`, Debian's
Chromium driving the provider's login page. Viewers read and cannot act, responders approve,
admins sign in; a rotated signing key still signs in; an expired or tampered session, a
callback with another state or none started, a person in no mapped group: each refused with
a page that says why, and nothing applied."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import system_binary
from tests.console.conftest import CHROMIUM_ARGS, RUNBOOKS, WAIT_MS
from tests.entry.test_devstack import start_dev, stop_dev
from tests.oidc.openid_provider import CLIENT_SECRET, OpenIdProvider
from warroom.access.sessions import Sessions
from warroom.access.tokens import load_tokens
from warroom.entry.devstack import free_port

pytestmark = pytest.mark.slow

HARNESS = "harness-token-0123456789abcdef"


@dataclass
class Room:
    url: str
    browser: Browser
    provider: OpenIdProvider
    tokens_file: str

    def api(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {HARNESS}"}
        answer = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kw)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def waiting_incident(self) -> str:
        """A new incident whose step `hold` waits for dana-oncall's approval."""
        body = {"runbook": "console-alert", "summary": "oidc test"}
        incident_id: str = self.api("POST", "/v1/incidents", json=body)["incident_id"]
        for _ in range(WAIT_MS // 100):
            if "hold" in self.api("GET", f"/v1/incidents/{incident_id}")["pending_approvals"]:
                return incident_id
            time.sleep(0.1)
        raise AssertionError(f"{incident_id}: hold never waited for approval")

    def page(self) -> Page:
        context = self.browser.new_context()
        # The provider's pages import a web font: nothing leaves the machine.
        context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        return page

    def sign_in(self, name: str, page: Page | None = None) -> Page:
        """Through the console's button and the provider's own login and consent pages."""
        page = page or self.page()
        page.goto(f"{self.url}/console/")
        page.get_by_role("link", name=re.compile("Sign in with")).click()
        log_in(page, name)
        page.wait_for_url(re.compile(r"/console/"))
        return page


def log_in(page: Page, name: str) -> None:
    """At the provider's login page: the name, any password, and the consent when asked."""
    page.locator("input[name=login]").fill(name)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    consent = page.get_by_role("button", name="Continue")
    expect(consent.or_(page.locator("form.me, [role=alert]"))).to_be_visible()
    if consent.is_visible():
        consent.click()


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    chromium = system_binary("chromium")
    tmp = tmp_path_factory.mktemp("oidc")
    (tmp / "runbooks").mkdir()
    for name, text in RUNBOOKS.items():
        (tmp / "runbooks" / name).write_text(text)
    tokens_file = tmp / "tokens.yaml"
    tokens_file.write_text(f"{HARNESS}: {{identity: harness, role: responder}}\n")
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    provider = OpenIdProvider(
        free_port(), f"{url}/console/oidc/callback", f"{url}/console/sign-in"
    ).start()
    try:
        env = {
            **os.environ,
            **provider.env(),
            "WARROOM_PUBLIC_URL": url,
            "WARROOM_API_TOKENS": str(tokens_file),
            "WARROOM_RUNBOOKS": str(tmp / "runbooks"),
            "WARROOM_SECRET_FLAKY_API": url,
        }
        proc = start_dev(tmp / "data", free_port(), env, api_port)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    yield Room(url, browser, provider, str(tokens_file))
                finally:
                    browser.close()
        finally:
            stop_dev(proc)
    finally:
        provider.stop()


def csrf_of(page: Page) -> str:
    return page.locator("form.me input[name=csrf]").get_attribute("value") or ""


def test_a_viewer_sees_incidents_but_no_decision_and_a_forged_one_is_refused(room):
    incident_id = room.waiting_incident()
    page = room.sign_in("vera")
    expect(page.locator("form.me")).to_contain_text("Signed in as vera")
    expect(page.get_by_role("link", name=incident_id)).to_be_visible()
    page.goto(f"{room.url}/console/incidents/{incident_id}")
    expect(page.get_by_role("heading", name="Steps")).to_be_visible()
    expect(page.get_by_role("button", name="Approve hold")).to_have_count(0)
    expect(page.get_by_role("button", name="Add note")).to_have_count(0)

    forged = page.request.post(
        f"{room.url}/console/incidents/{incident_id}/approve",
        form={"csrf": csrf_of(page), "step": "hold"},
        max_redirects=0,
    )
    assert forged.status == 403, forged.text()
    assert "needs the responder role; vera is a viewer" in forged.text()
    assert "hold" in room.api("GET", f"/v1/incidents/{incident_id}")["pending_approvals"]


def test_a_responder_approves_and_the_timeline_says_how_they_signed_in(room):
    incident_id = room.waiting_incident()
    page = room.sign_in("dana-oncall")
    page.goto(f"{room.url}/console/incidents/{incident_id}")
    page.get_by_role("button", name="Approve hold").click()
    expect(page.get_by_role("status")).to_contain_text("Done: approve hold")
    entries = room.api("GET", f"/v1/incidents/{incident_id}/timeline")
    approved = [(e["actor"], e["authenticated"]) for e in entries if e["event"] == "approved"]
    assert approved == [("dana-oncall", "oidc")]


def test_an_admin_signs_in_and_may_act(room):
    page = room.sign_in("ada")
    expect(page.locator("form.me")).to_contain_text("Signed in as ada")
    page.goto(f"{room.url}/console/runbooks")
    expect(page.get_by_text("Declare an incident with console-alert")).to_be_visible()
    metrics = httpx.get(f"{room.url}/metrics", headers={"Authorization": f"Bearer {HARNESS}"}).text
    signed_in = re.search(
        r'warroom_access_events_total\{event="sign_in",via="oidc"\} (\S+)', metrics
    )
    assert signed_in is not None and float(signed_in[1]) >= 1


def test_someone_in_no_mapped_group_is_not_signed_in(room):
    page = room.page()
    page.goto(f"{room.url}/console/")
    page.get_by_role("link", name=re.compile("Sign in with")).click()
    log_in(page, "nobody")
    expect(page.get_by_role("alert")).to_contain_text(
        "nobody is in no group that has a warroom role"
    )
    page.goto(f"{room.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    metrics = httpx.get(f"{room.url}/metrics", headers={"Authorization": f"Bearer {HARNESS}"}).text
    assert 'warroom_access_events_total{event="sign_in_refused",via="oidc"}' in metrics


def test_the_token_form_is_off_and_its_post_refused(room):
    page = room.page()
    page.goto(f"{room.url}/console/sign-in")
    expect(page.get_by_role("link", name=re.compile("Sign in with"))).to_be_visible()
    expect(page.get_by_label("API token")).to_have_count(0)
    page = room.sign_in("vera", page)
    refused = page.request.post(
        f"{room.url}/console/sign-in",
        form={"csrf": csrf_of(page), "token": HARNESS, "next": "/console/"},
        max_redirects=0,
    )
    assert refused.status == 403, refused.text()
    assert "the token form is off" in refused.text()
    page.goto(f"{room.url}/console/")
    expect(page.locator("form.me")).to_contain_text("Signed in as vera")


def test_a_callback_with_another_state_or_none_started_signs_nobody_in(room):
    page = room.page()
    page.goto(f"{room.url}/console/")
    page.get_by_role("link", name=re.compile("Sign in with")).click()
    expect(page.locator("input[name=login]")).to_be_visible()  # at the provider, flow started
    page.goto(f"{room.url}/console/oidc/callback?code=forged&state=not-the-one")
    expect(page.get_by_role("alert")).to_contain_text("state does not match")
    page.goto(f"{room.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))

    fresh = room.page()
    fresh.goto(f"{room.url}/console/oidc/callback?code=forged&state=x")
    expect(fresh.get_by_role("alert")).to_contain_text("this sign-in was not started here")


def cookie_named(page: Page, prefix: str) -> dict[str, Any]:
    return next(c for c in page.context.cookies() if c["name"].startswith(prefix))  # type: ignore[return-value]


def test_a_tampered_or_expired_session_is_no_session(room):
    incident_id = room.waiting_incident()
    page = room.sign_in("dana-oncall")
    session = cookie_named(page, "warroom_session_")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    csrf = csrf_of(page)

    # Tampered: the same signature over another role.
    body, _, mac = session["value"].partition(".")
    page.context.add_cookies([{**session, "value": f"{body[:-2]}xx.{mac}"}])
    refused = page.request.post(
        f"{room.url}/console/incidents/{incident_id}/approve",
        form={"csrf": csrf, "step": "hold"},
        max_redirects=0,
    )
    assert refused.status in (303, 403), refused.text()
    page.goto(f"{room.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))

    # Expired: signed with this server's key, thirteen hours ago.
    past = time.time() - 13 * 3600
    sessions = Sessions.for_tokens(load_tokens(room.tokens_file), CLIENT_SECRET)
    old = Sessions(sessions._key, clock=lambda: past)
    _, value = old.new("dana-oncall", "responder", "oidc")
    page.context.add_cookies([{**session, "value": value}])
    page.goto(f"{room.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    assert "hold" in room.api("GET", f"/v1/incidents/{incident_id}")["pending_approvals"]


def test_sign_out_ends_the_session_here_and_at_the_provider(room):
    page = room.sign_in("vera")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Yes, sign me out")).to_be_visible()
    assert page.url.startswith(room.provider.issuer)
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(re.compile(r"/console/sign-in"))
    page.goto(f"{room.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))


def test_a_rotated_signing_key_still_signs_in(room):
    room.sign_in("vera")  # the console has the provider's first key cached
    room.provider.rotate("key-2")
    page = room.sign_in("dana-oncall")
    expect(page.locator("form.me")).to_contain_text("Signed in as dana-oncall")
