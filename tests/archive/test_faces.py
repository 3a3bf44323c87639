"""The archive through the faces, on a real Temporal dev server and worker: `warroom search`,
`report`, `list --archived` and `GET /v1/incidents/search` answer the same before and after
the incident is deleted from Temporal (as retention does), the report counts an incident in
both once, and `warroom archive backfill` archives a closed incident the archive lacks, once."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import sqlalchemy as sa

from tests.api.conftest import serve_api
from tests.archive.test_fallback import (
    POLLS,
    archived,
    declare,
    delete,
    run,
    setting,
    sign_in,
    warroom,
)
from tests.conftest import dev_server
from warroom.archive.schema import incidents
from warroom.archive.store import Archive
from warroom.entry.devstack import free_port
from warroom.incidents import views
from worker import build_worker


@pytest.fixture
async def dev_env(suite_keys):
    """A dev server of each test's own: `report --since 1d` counts every incident Temporal
    holds, and other suites' incidents (and the other parameter's) must not be among them."""
    async for env in dev_server(suite_keys):
        yield env


__all__ = ["setting"]  # the fixture, shared with the fallback tests
pytestmark = pytest.mark.slow  # a worker, incidents closed by hand, the CLI as processes


async def close(client, env, runbook, note: str) -> str:
    incident_id = await declare(env, runbook)
    for _ in range(POLLS):
        if (await views.status(client, incident_id)).pending_approvals:
            break
        await asyncio.sleep(0.1)
    await run("note", incident_id, note, "--by", "carol", env=env)
    await run("approve", incident_id, "fix", "--by", "carol", env=env)
    await client.get_workflow_handle(incident_id).result()
    return incident_id


async def read(args: tuple[str, ...], env: dict[str, str]) -> object:
    got = json.loads(await run(*args, env=env))
    if isinstance(got, dict):
        got.pop("since")  # the report's window starts a little later the second time
    return got


async def api_search(client, query: str) -> tuple[list[dict], dict[str, list[str]]]:
    """The API's search, and the incidents the console's list links to with the search box
    and with the Archived box (signed in through the sign-in form)."""
    async with await serve_api(client) as url, httpx.AsyncClient(timeout=30) as http:
        got = await http.get(f"{url}/v1/incidents/search", params={"q": query})
        assert got.status_code == 200, got.text
        bad = await http.get(f"{url}/v1/incidents/search", params={"q": "x", "since": "soon"})
        assert bad.status_code == 422 and "since" in bad.text
        await sign_in(http, url)
        console = {}
        for params in ({"q": query}, {"archived": "1"}, {"q": "nothing-like-this"}):
            page = await http.get(f"{url}/console/", params=params)
            assert page.status_code == 200, page.text
            console[str(params)] = re.findall(r'<a href="/console/incidents/([^"]+)">', page.text)
    return list(got.json()), console


async def test_search_report_and_list_answer_the_same_after_temporal_forgets(
    setting, dev_env, task_queue, archive_url, monkeypatch
):
    env, runbook = setting
    env = {**env, "WARROOM_ARCHIVE_URL": archive_url}
    monkeypatch.setenv("WARROOM_ARCHIVE_URL", archive_url)  # the worker's and the API's
    async with build_worker(dev_env.client, task_queue):
        incident_id = await close(dev_env.client, env, runbook, "the rollback failed once")
        await archived(archive_url, incident_id)
    reads = (
        ("search", "rollback fails", "--json"),
        ("report", "--since", "1d", "--json"),
        ("list", "--archived", "--json"),
    )
    before = {args: await read(args, env) for args in reads}
    before_api = await api_search(dev_env.client, "rollback")
    found = before[reads[0]]
    assert [(f["incident_id"], f["execution_status"]) for f in found] == [(incident_id, "archived")]
    assert [f["incident_id"] for f in before_api[0]] == [incident_id]
    assert list(before_api[1].values()) == [[incident_id], [incident_id], []]
    told = before[reads[1]]
    assert told["incidents"] == 1  # in Temporal and in the archive: counted once
    assert told["by_runbook"] == {"archived": 1} and told["time_to"]["resolve"]["incidents"] == 1
    assert [i["incident_id"] for i in before[reads[2]]] == [incident_id]
    assert json.loads(await run("search", "nothing-like-this", "--json", env=env)) == []

    await delete(dev_env.client, incident_id)
    for args in reads:
        assert await read(args, env) == before[args], args
    assert await api_search(dev_env.client, "rollback") == before_api


async def test_backfill_archives_what_the_archive_lacks_once(
    setting, dev_env, task_queue, archive_url, monkeypatch
):
    env, runbook = setting
    monkeypatch.delenv("WARROOM_ARCHIVE_URL", raising=False)  # the worker archives nothing
    async with build_worker(dev_env.client, task_queue):
        incident_id = await close(dev_env.client, env, runbook, "cache flushed by hand")
    env = {**env, "WARROOM_ARCHIVE_URL": archive_url}
    filled = await asyncio.to_thread(warroom, "archive", "backfill", "--since", "1d", env=env)
    assert filled.returncode == 0, filled.stderr
    assert f": {incident_id} …" in filled.stderr  # the progress line
    # Other tests' closed incidents on the same server are archived too: each once.
    filled_count = int(filled.stdout.split()[0])
    record = await archived(archive_url, incident_id)
    assert record.complete and record.status == "resolved"
    assert "cache flushed by hand" in record.notes
    again = await run("archive", "backfill", "--since", "1d", env=env)
    assert again.startswith("0 incidents")  # idempotent: nothing the archive lacks
    archive = Archive(archive_url)
    assert archive.count() == filled_count >= 1
    # A record as an older version stored it (no postmortem): --again rebuilds every one.
    with archive.engine.begin() as conn:
        conn.execute(sa.update(incidents).values(postmortem=""))
    rebuilt = await run("archive", "backfill", "--since", "1d", "--again", env=env)
    assert rebuilt.startswith(f"{filled_count} incidents")
    assert archive.count() == filled_count  # each once still
    assert (await archived(archive_url, incident_id)).postmortem.startswith("# Postmortem")
    archive.close()
    unset = await asyncio.to_thread(
        warroom, "archive", "backfill", env={**env, "WARROOM_ARCHIVE_URL": ""}
    )
    assert unset.returncode == 1 and "WARROOM_ARCHIVE_URL is not set" in unset.stderr


async def test_an_archive_that_cannot_be_reached_is_said_in_one_line(setting):
    env, _ = setting
    down = {**env, "WARROOM_ARCHIVE_URL": f"postgresql+psycopg://u@127.0.0.1:{free_port()}/x"}
    for args in (("list", "--archived"), ("search", "rollback"), ("report", "--since", "1d")):
        said = await asyncio.to_thread(warroom, *args, env=down)
        assert said.returncode == 1, (args, said.stdout)
        assert "the archive cannot be read: " in said.stderr, (args, said.stderr)
        assert "unexpected" not in said.stderr and "Traceback" not in said.stderr
    unset = await asyncio.to_thread(
        warroom, "list", "--archived", env={**env, "WARROOM_ARCHIVE_URL": ""}
    )
    assert unset.returncode == 1 and "WARROOM_ARCHIVE_URL is not set" in unset.stderr
