"""`/docs` (Swagger UI) and `/redoc` work offline: their scripts and styles come from the
package, served by the API itself; nothing on the page names another host."""

from __future__ import annotations

import os
import re
import signal

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.api.test_serve import start_serve
from tests.conftest import system_binary
from tests.console.conftest import CHROMIUM_ARGS
from warroom.api.app import Temporal
from warroom.entry.devstack import free_port
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue

#: What a page refers to: src=, href= and the spec's url.
REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'""")


def api() -> httpx.AsyncClient:
    app = web_app(Catalogue.load(), Temporal(address="127.0.0.1:1"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_refer_only_to_the_api_itself_and_each_reference_loads(page):
    async with api() as http:
        shown = await http.get(page)
        assert shown.status_code == 200
        assert "http://" not in shown.text and "https://" not in shown.text, shown.text
        found = [a or b for a, b in REFERENCE.findall(shown.text)]
        assert any(ref.endswith(".js") for ref in found), found
        for ref in found:
            assert ref.startswith("/") and not ref.startswith("//"), ref
            loaded = await http.get(ref)
            assert loaded.status_code == 200, ref
            assert len(loaded.content) > 1000, ref


def test_swagger_ui_renders_in_a_browser_with_no_request_leaving_the_api():
    chromium = system_binary("chromium")
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_API_TOKENS"}
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"  # the docs need no Temporal
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc, _ = start_serve("--port", str(port), env=env)
    requested: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.on("request", lambda r: requested.append(r.url))
                page.goto(f"{url}/docs")
                expect(page.locator(".swagger-ui .info .title")).to_contain_text("warroom")
                expect(page.get_by_text("/v1/incidents/{incident_id}/approve")).to_be_visible()
            finally:
                browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert requested and all(r.startswith(f"{url}/") for r in requested), requested
