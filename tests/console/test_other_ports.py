"""Two consoles on two ports of one host, and one browser's cookies (which ignore ports): one
server runs with API tokens, the other without. Neither reads or accepts the other's
session, the token never leaves the sign-in form, and a CSRF token planted by a page on
another port validates nothing. Real servers on loopback ports; Temporal is never asked."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.conftest import serve_api

DANA = "dana-token-0123456789abcdef"


@dataclass
class Ports:
    tokens: str  # the console with API tokens
    open: str  # the tokenless one
    browser: httpx.AsyncClient  # one cookie jar for both, as a browser keeps it

    async def csrf(self, url: str) -> str:
        page = await self.browser.get(f"{url}/console/sign-in")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None, page.text
        return found.group(1)

    async def sign_in(self, url: str, **form: str) -> httpx.Response:
        csrf = await self.csrf(url)
        return await self.browser.post(f"{url}/console/sign-in", data={"csrf": csrf, **form})


@pytest.fixture
async def ports() -> AsyncIterator[Ports]:
    async with (
        await serve_api(None, {DANA: "dana-oncall"}) as with_tokens,
        await serve_api(None) as without,
        httpx.AsyncClient(timeout=30) as browser,
    ):
        yield Ports(with_tokens, without, browser)


async def test_a_token_never_reaches_a_cookie_nor_another_ports_console(ports):
    signed = await ports.sign_in(ports.tokens, token=DANA)
    assert signed.status_code == 303, signed.text
    assert DANA not in str(signed.headers)
    assert all(DANA not in c.value for c in ports.browser.cookies.jar)
    page = await ports.browser.get(f"{ports.tokens}/console/runbooks")
    assert "Signed in as <strong>dana-oncall</strong>" in page.text

    # The same browser, the tokenless console on the other port: not signed in there.
    other = await ports.browser.get(f"{ports.open}/console/runbooks")
    assert other.status_code == 303 and "/console/sign-in" in other.headers["location"]
    # Nor with the first console's session under the other's name, nor the token itself.
    names = {c.name for c in ports.browser.cookies.jar}
    assert len(names) == 2, names  # one cookie per server, each of its own name
    (theirs,) = dict(signed.cookies).values()
    for value in (theirs, DANA, "dana-oncall"):
        for name in names:
            async with httpx.AsyncClient(cookies={name: value}) as forger:
                forged = await forger.get(f"{ports.open}/console/runbooks")
            assert forged.status_code == 303, (name, value)


async def test_a_csrf_token_planted_from_another_port_validates_nothing(ports):
    # A page on another loopback port can set cookies for 127.0.0.1 (cookies ignore ports),
    # as the old double-submit cookie was: the form's token must come from this session.
    ports.browser.cookies.set("warroom_csrf", "planted-by-another-port", domain="127.0.0.1")
    planted = await ports.browser.post(
        f"{ports.open}/console/sign-in", data={"csrf": "planted-by-another-port", "name": "eve"}
    )
    assert planted.status_code == 403 and "CSRF token does not match" in planted.text

    # The CSRF token of one session is no good with another session's cookie.
    async with httpx.AsyncClient() as alice, httpx.AsyncClient() as bob:
        for person in (alice, bob):
            page = await person.get(f"{ports.open}/console/sign-in")
            person.csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert alice.csrf != bob.csrf
        crossed = await bob.post(
            f"{ports.open}/console/sign-in", data={"csrf": alice.csrf, "name": "bob"}
        )
        assert crossed.status_code == 403
        own = await bob.post(
            f"{ports.open}/console/sign-in", data={"csrf": bob.csrf, "name": "bob"}
        )
        assert own.status_code == 303


async def test_signing_in_starts_a_new_session(ports):
    """A session planted before sign-in (fixation) is not the one signed in."""
    before = {c.name: c.value for c in ports.browser.cookies.jar}
    await ports.browser.get(f"{ports.open}/console/sign-in")
    anonymous = {c.name: c.value for c in ports.browser.cookies.jar}.items() - before.items()
    signed = await ports.sign_in(ports.open, name="dana")
    assert signed.status_code == 303
    after = {c.name: c.value for c in ports.browser.cookies.jar}
    assert all(after[name] != value for name, value in anonymous)
