"""The console in a real browser: one `warroom dev` (subprocess, free ports, temporary data
dir, API tokens) and one headless Debian Chromium per test module, with local stand-ins for
the services the runbooks call (the demo's checkout service, a flaky endpoint)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import system_binary
from tests.entry.test_devstack import start_dev, stop_dev
from warroom.entry.demo_service import CheckoutService
from warroom.entry.devstack import free_port
from warroom.entry.jsonserver import JsonServer, Reply, Request

#: Without the background-networking flags Chromium's own connections get refused on a
#: closed network, and it waits for them.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Longest wait for something to appear on a page (steps retry for a few seconds).
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)

TOKENS = {
    "dana-token-0123456789abcdef": "dana-oncall",
    "mallory-token-0123456789abcd": "mallory",
}
DANA, MALLORY = "dana-token-0123456789abcdef", "mallory-token-0123456789abcd"

#: Runbooks of the tests: a step against an endpoint that fails until told otherwise, and
#: one that an alert opens and that waits for an approval (so it stays open).
RUNBOOKS = {
    "console-flaky.yaml": """
name: console-flaky
title: Flaky endpoint
service: console-test
severity: SEV3
steps:
  - id: poke
    phase: triage
    action: http.request
    with: {method: GET, url: "{{ secret.FLAKY_API }}/poke", expect_status: 200}
    retry: {max_attempts: 1}
    timeout: 5s
""",
    "console-alert.yaml": """
name: console-alert
title: Console test alert
service: console-test
severity: SEV3
match: {alertname: ConsoleTest}
steps:
  - id: hold
    phase: mitigate
    approval: {approvers: [dana-oncall]}
    action: note
    with: {text: held}
""",
}


class Flaky:
    """GET /poke: 503 until `healthy` is set."""

    def __init__(self) -> None:
        self.healthy = False
        self._server = JsonServer(self.handle)

    def handle(self, req: Request) -> Reply:
        return Reply(200, {"ok": True}) if self.healthy else Reply(503, {"error": "down"})

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> Flaky:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


@dataclass
class Console:
    url: str
    browser: Browser
    flaky: Flaky
    checkout: CheckoutService
    pages: list[Page] = field(default_factory=list)

    def api(self, method: str, path: str, token: str = DANA, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kw)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def declare(self, runbook: str, summary: str = "console test") -> str:
        body = {"runbook": runbook, "summary": summary}
        incident_id: str = self.api("POST", "/v1/incidents", json=body)["incident_id"]
        return incident_id

    def wait_for_approval(self, incident_id: str, step: str) -> None:
        """Until the step waits for approval (as `GET /v1/incidents/{id}` says)."""
        for _ in range(WAIT_MS // 100):
            if step in self.api("GET", f"/v1/incidents/{incident_id}")["pending_approvals"]:
                return
            time.sleep(0.1)
        raise AssertionError(f"{incident_id}: {step} never waited for approval")

    def page(self, token: str = DANA, **context: Any) -> Page:
        """A fresh browser context signed in with `token` (through the sign-in form)."""
        page = self.browser.new_context(**context).new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{self.url}/console/")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.url}/console/")
        self.pages.append(page)
        return page


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    chromium = system_binary("chromium")
    tmp = tmp_path_factory.mktemp("console")
    (tmp / "runbooks").mkdir()
    for name, text in RUNBOOKS.items():
        (tmp / "runbooks" / name).write_text(text)
    (tmp / "tokens.yaml").write_text("".join(f"{t}: {who}\n" for t, who in TOKENS.items()))
    with CheckoutService(recovery_seconds=2.0) as checkout, Flaky() as flaky:
        env = {
            **os.environ,
            "WARROOM_API_TOKENS": str(tmp / "tokens.yaml"),
            "WARROOM_RUNBOOKS": str(tmp / "runbooks"),
            "WARROOM_SECRET_CHECKOUT_API": checkout.url,
            "WARROOM_SECRET_STATUS_WEBHOOK": f"{checkout.url}/updates",
            "WARROOM_SECRET_FLAKY_API": flaky.url,
        }
        api_port = free_port()
        proc, url = (
            start_dev(tmp / "data", free_port(), env, api_port),
            f"http://127.0.0.1:{api_port}",
        )
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    yield Console(url, browser, flaky, checkout)
                finally:
                    browser.close()
        finally:
            stop_dev(proc)


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Saved in the test's own output folder."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


#: The README's screenshot; the tests write it when it is missing or when this is set (so a
#: test run does not change the work tree each time).
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console-incident.png"
UPDATE_SCREENSHOT_ENV = "WARROOM_UPDATE_SCREENSHOT"


def keep_for_readme(path: Path) -> None:
    if os.environ.get(UPDATE_SCREENSHOT_ENV) or not README_SCREENSHOT.exists():
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, README_SCREENSHOT)


def mark(page: Page) -> None:
    """Something a reload would lose: whether the page is still the same document."""
    page.evaluate("window.sameDocument = true")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("window.sameDocument === true"))
