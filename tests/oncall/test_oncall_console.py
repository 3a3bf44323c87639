"""The console's on-call page without a browser (httpx on the ASGI app) against the dev server:
the two-week grid with an override marked, the override form by the signed-in person with its
CSRF token, and a refusal said on the page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.console.test_session import csrf_of
from tests.oncall.fixtures import EXAMPLE, NAMES
from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue
from worker import build_worker, start_schedules


@pytest.fixture
async def console(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    name = f"sre-{task_queue[-8:]}"
    (tmp_path / "oncall.yaml").write_text(EXAMPLE.replace("sre-primary", name))
    (tmp_path / "people.yaml").write_text("".join(f"{n}: {{email: {n}@x.io}}\n" for n in NAMES))
    monkeypatch.setenv("WARROOM_ONCALL", str(tmp_path / "oncall.yaml"))
    app = web_app(Catalogue.load(), Temporal(dev_env.client), tokens=Tokens({}))
    async with (
        build_worker(dev_env.client, task_queue),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as http,
    ):
        await start_schedules(dev_env.client, task_queue)
        csrf = await csrf_of(http)
        await http.post("/console/sign-in", data={"csrf": csrf, "name": "dana"})
        yield http, name
    await dev_env.client.get_workflow_handle(f"oncall-{name}").terminate()


async def test_the_grid_and_an_override_made_on_the_page(
    console: tuple[httpx.AsyncClient, str],
) -> None:
    http, name = console
    page = await http.get("/console/oncall")
    assert page.status_code == 200, page.text
    assert f'id="oncall-{name}"' in page.text and 'href="/console/oncall"' in page.text
    assert len(re.findall(r"<tr><th scope=\"row\">", page.text)) == 14
    assert 'class="override' not in page.text

    csrf = await csrf_of(http)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    form = {"csrf": csrf, "who": "erin", "from": f"{tomorrow} 10:00", "until": f"{tomorrow} 14:00"}
    made = await http.post(f"/console/oncall/{name}/override", data={**form, "reason": "swap"})
    assert made.status_code == 303 and made.headers["location"].startswith(
        "/console/oncall?done=o1"
    )
    page = await http.get(made.headers["location"])
    assert "override o1 made" in page.text
    assert "o1</strong>: erin from" in page.text and "by dana (swap)" in page.text
    assert len(re.findall(r'<td class="override"', page.text)) == 4  # 10:00 to 14:00

    again = await http.post(f"/console/oncall/{name}/override", data={**form, "reason": "x"})
    assert again.status_code == 409 and "overlaps o1: erin" in again.text

    forged = await http.post(f"/console/oncall/{name}/override", data={**form, "csrf": "guess"})
    assert forged.status_code == 403
    by = await http.post(f"/console/oncall/{name}/override", data={**form, "by": "mallory"})
    assert by.status_code == 400 and "unexpected form field &#39;by&#39;" in by.text


async def test_the_cancel_button_beside_an_override(
    console: tuple[httpx.AsyncClient, str],
) -> None:
    http, name = console
    csrf = await csrf_of(http)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    form = {"csrf": csrf, "who": "erin", "from": f"{tomorrow} 10:00", "until": f"{tomorrow} 14:00"}
    made = await http.post(f"/console/oncall/{name}/override", data={**form, "reason": "swap"})
    assert made.status_code == 303
    page = await http.get("/console/oncall")
    action = f'action="/console/oncall/{name}/overrides/o1/cancel"'
    assert action in page.text and 'aria-label="Cancel override o1"' in page.text

    cancel = f"/console/oncall/{name}/overrides/o1/cancel"
    forged = await http.post(cancel, data={"csrf": "guess", "reason": "x"})
    assert forged.status_code == 403
    extra = await http.post(cancel, data={"csrf": csrf, "by": "mallory"})
    assert extra.status_code == 400 and "unexpected form field &#39;by&#39;" in extra.text
    done = await http.post(cancel, data={"csrf": csrf, "reason": "not needed"})
    assert done.status_code == 303 and done.headers["location"].startswith(
        "/console/oncall?cancelled=o1"
    )
    page = await http.get(done.headers["location"])
    assert "override o1 cancelled" in page.text
    assert "o1</strong>" not in page.text and action not in page.text
    assert 'class="override' not in page.text  # the grid is the rotation again
    again = await http.post(cancel, data={"csrf": csrf})
    assert again.status_code == 409 and "o1 not cancelled: no override o1" in again.text
