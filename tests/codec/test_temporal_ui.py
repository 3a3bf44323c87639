"""The Temporal Web UI decodes through warroom's codec server, in a real browser: `warroom dev
--encrypt` (subprocess, API tokens) starts the dev server with `--ui-codec-endpoint` at its
API; headless Chromium opens an incident in the UI. With a reader's token (as the header a
proxy or the UI's own sign-in adds) it shows the decoded input, the step's included; without
one the codec server answers 401 and the UI shows ciphertext only. With the UI's "include
cross-origin credentials" setting (this CLI's dev server has no flag for it: it is the UI's
own, kept in the browser), the console's session is credential enough, until sign-out."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import system_binary
from tests.console.conftest import CHROMIUM_ARGS, WAIT_MS
from tests.entry.test_devstack import start_dev, stop_dev
from warroom.entry.devstack import KEYS_FILE, free_port

pytestmark = pytest.mark.slow

DANA = "dana-token-0123456789abcdef"
STEP_TEXT = "stepinputword4411"
SUMMARY = "summaryword4412"
RUNBOOK = f"""
name: ui-encrypted
title: UI titleword4413
severity: SEV3
steps:
  - id: say
    phase: triage
    action: exec
    with: {{command: [echo, "{STEP_TEXT}"]}}
  - id: wait
    phase: mitigate
    approval: {{approvers: [dana]}}
    action: note
    with: {{text: done}}
"""


@dataclass
class EncryptedDev:
    api: str
    ui: str
    browser: Browser
    data_dir: Path
    incident_id: str

    def page(self, **context: object) -> Page:
        page = self.browser.new_context(**context).new_page()  # type: ignore[arg-type]
        page.set_default_timeout(WAIT_MS)
        page.goto(self.workflow)
        return page

    @property
    def workflow(self) -> str:
        return f"{self.ui}/namespaces/default/workflows/{self.incident_id}"

    def with_credentials(self) -> Page:
        """A browser whose Temporal UI sends its cookies to the codec server: the settings a
        person makes in the UI's "Codec Server" dialog (the endpoint, "Include cross-origin
        credentials"), kept in the UI's local storage, set here before the UI loads."""
        context = self.browser.new_context()
        settings = {
            "endpoint": f"{self.api}/codec",
            "includeCredentials": True,
            "overrideRemoteCodecConfiguration": True,
        }
        script = "".join(
            f"localStorage.setItem({json.dumps(k)}, {json.dumps(json.dumps(v))});"
            for k, v in settings.items()
        )
        context.add_init_script(f"if (location.origin === {json.dumps(self.ui)}) {{{script}}}")
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        return page

    def sign_in(self, page: Page) -> None:
        page.goto(f"{self.api}/console/")
        page.get_by_label("API token").fill(DANA)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.api}/console/")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EncryptedDev]:
    chromium = system_binary("chromium")
    tmp = tmp_path_factory.mktemp("ui")
    (tmp / "runbooks").mkdir()
    (tmp / "runbooks" / "ui-encrypted.yaml").write_text(RUNBOOK)
    (tmp / "tokens.yaml").write_text(f"{DANA}: dana\n")
    env = {
        **os.environ,
        "WARROOM_API_TOKENS": str(tmp / "tokens.yaml"),
        "WARROOM_RUNBOOKS": str(tmp / "runbooks"),
        "WARROOM_EXEC_ALLOW": "echo",
    }
    env.pop("WARROOM_CODEC_KEYS", None)
    api_port, ui_port = free_port(), free_port()
    proc = start_dev(tmp / "data", free_port(), env, api_port, "--encrypt", ui_port=ui_port)
    api = f"http://127.0.0.1:{api_port}"
    try:
        declared = httpx.post(
            f"{api}/v1/incidents",
            json={"runbook": "ui-encrypted", "summary": SUMMARY},
            headers={"Authorization": f"Bearer {DANA}"},
            timeout=60,
        )
        assert declared.status_code == 201, declared.text
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield EncryptedDev(
                    api,
                    f"http://127.0.0.1:{ui_port}",
                    browser,
                    tmp / "data",
                    declared.json()["incident_id"],
                )
            finally:
                browser.close()
    finally:
        stop_dev(proc)


def test_dev_encrypt_made_a_key_file_only_its_owner_reads(dev: EncryptedDev) -> None:
    keys = dev.data_dir / KEYS_FILE
    assert keys.stat().st_mode & 0o777 == 0o600
    assert keys.read_text().splitlines()[-1].startswith("k1: ")


def test_the_ui_shows_decoded_payloads_to_a_reader(dev: EncryptedDev) -> None:
    page = dev.page(extra_http_headers={"Authorization": f"Bearer {DANA}"})
    expect(page.get_by_text(STEP_TEXT).first).to_be_visible()
    # The step's own input, in the event history: its activity's scheduled event, opened.
    page.get_by_text("Event History").first.click()
    scheduled = page.get_by_text("Activity Task Scheduled").first
    scheduled.scroll_into_view_if_needed()
    scheduled.click()
    expect(page.get_by_text('"idempotency_key"')).to_be_visible()
    body = page.inner_text("body")
    assert f'"incident_id": "{dev.incident_id}",\n  "step": "say"' in body
    assert '"command": [\n      "echo",\n      "' + STEP_TEXT in body
    assert "Codec Server could not connect" not in body
    page.context.close()


def test_without_a_credential_the_ui_shows_ciphertext(dev: EncryptedDev) -> None:
    page = dev.page()
    expect(page.locator("#content").get_by_text("Codec Server could not connect")).to_be_visible()
    page.wait_for_timeout(2000)
    body = page.inner_text("body")
    assert STEP_TEXT not in body and SUMMARY not in body and "titleword4413" not in body
    page.context.close()


def test_the_console_session_lets_the_ui_decode_until_sign_out(dev: EncryptedDev) -> None:
    page = dev.with_credentials()
    page.goto(dev.workflow)
    expect(page.locator("#content").get_by_text("Codec Server could not connect")).to_be_visible()
    assert STEP_TEXT not in page.inner_text("body")
    dev.sign_in(page)
    sent: list[dict[str, str]] = []
    page.on("request", lambda r: sent.append(r.headers) if "/codec/" in r.url else None)
    page.goto(dev.workflow)
    expect(page.get_by_text(STEP_TEXT).first).to_be_visible()
    assert "Codec Server could not connect" not in page.inner_text("body")
    assert sent and not any("authorization" in h for h in sent)  # the cookie, no header
    page.goto(f"{dev.api}/console/")
    page.get_by_role("button", name="Sign out").click()
    page.goto(dev.workflow)
    expect(page.locator("#content").get_by_text("Codec Server could not connect")).to_be_visible()
    page.wait_for_timeout(2000)
    assert STEP_TEXT not in page.inner_text("body")
    page.context.close()
