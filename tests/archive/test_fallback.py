"""Readers fall back to the archive: a closed incident deleted from Temporal (as retention
does) reads the same from `warroom show`, `timeline` and `postmortem`; an archive that is
down at close delays the record, and it lands once, when the archive is back."""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from tests.api.conftest import serve_api
from tests.archive.postgres import Cluster
from tests.conftest import installed_binary
from tests.fakehttp import Reply
from warroom.archive.store import Archive
from warroom.incidents import views
from worker import build_worker

RUNBOOK = """
name: archived
title: Archived checkout
severity: SEV2
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "{{ secret.ARCH_API }}/look"}}
  - id: fix
    phase: mitigate
    approval: {approvers: [carol]}
    action: http.request
    with: {method: POST, url: "{{ secret.ARCH_API }}/fix"}
"""
#: Bounds on waiting for something the worker does (not measures).
POLLS = 300
#: ... and for the server to forget a deleted incident: the dev server deletes a run that has
#: just closed only after a while (20-33 s measured, deleting right after the close).
DELETE_POLLS = 1_200


def warroom(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "warroom")
    return subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def run(*args: str, env: dict[str, str]) -> str:
    done = await asyncio.to_thread(warroom, *args, env=env)
    assert done.returncode == 0, f"warroom {' '.join(args)}: {done.stderr}"
    return done.stdout


READERS = (
    ("show", "--json"),
    ("show",),
    ("timeline", "--json"),
    ("timeline", "--markdown"),
    ("timeline",),
    ("postmortem",),
)


@pytest.fixture
def setting(dev_env, task_queue, fake_http, monkeypatch, tmp_path):
    monkeypatch.setenv("WARROOM_SECRET_ARCH_API", fake_http.url)
    fake_http.routes[("GET", "/look")] = Reply(200, {"ok": True})
    fake_http.routes[("POST", "/fix")] = Reply(200, {"fixed": True})
    runbook = tmp_path / "archived.yaml"
    runbook.write_text(RUNBOOK)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WARROOM_TASK_QUEUE": task_queue,
    }
    return env, runbook


async def declare(env: dict[str, str], runbook: Path) -> str:
    out = await run(
        "declare", "--runbook", str(runbook), "--summary", "checkout down", "--by", "erin", env=env
    )
    return out.strip()


async def archived(url: str, incident_id: str, *, complete: bool = True):
    archive = Archive(url)
    try:
        for _ in range(POLLS):
            record = await asyncio.to_thread(archive.latest, incident_id)
            if record is not None and (record.complete or not complete):
                return record
            await asyncio.sleep(0.1)
    finally:
        archive.close()
    pytest.fail(f"{incident_id} was never archived")


async def delete(client, incident_id: str) -> None:
    """`temporal workflow delete`, as retention would, then wait until the server forgot it."""
    done = await asyncio.to_thread(
        subprocess.run,
        [
            installed_binary("temporal"), "workflow", "delete", "--workflow-id", incident_id,
            "--yes", "--address", client.service_client.config.target_host,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for _ in range(DELETE_POLLS):
        try:
            await client.get_workflow_handle(incident_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return
        await asyncio.sleep(0.1)
    pytest.fail(f"{incident_id} was never deleted")


#: The API's incident routes and the console's incident page (signed in as carol through the
#: sign-in form; the session and its CSRF token differ between the two API processes).
HTTP_READS = ("/v1/incidents/{id}", "/v1/incidents/{id}/timeline", "/console/incidents/{id}")


async def sign_in(http: httpx.AsyncClient, url: str) -> None:
    """Sign in to the console as carol through its sign-in form."""
    form = await http.get(f"{url}/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    signed = await http.post(
        f"{url}/console/sign-in", data={"csrf": csrf.group(1), "name": "carol"}
    )
    assert signed.status_code == 303, signed.text


async def http_reads(client, incident_id: str) -> dict[str, tuple[int, str]]:
    async with await serve_api(client) as url, httpx.AsyncClient(timeout=30) as http:
        await sign_in(http, url)
        got = {}
        for path in HTTP_READS:
            response = await http.get(url + path.format(id=incident_id))
            # "14s ago" and the session's CSRF token are all that move between two renderings.
            text = re.sub(r">[^<>]* ago<", "> ago<", response.text)
            got[path] = (response.status_code, re.sub(r'name="csrf" value="[^"]+"', "", text))
    assert all(status == 200 for status, _ in got.values()), got
    return got


async def test_a_deleted_incident_reads_the_same_from_the_archive(
    setting, dev_env, task_queue, archive_url, monkeypatch
):
    env, runbook = setting
    env = {**env, "WARROOM_ARCHIVE_URL": archive_url}
    monkeypatch.setenv("WARROOM_ARCHIVE_URL", archive_url)  # the worker's
    async with build_worker(dev_env.client, task_queue):
        incident_id = await declare(env, runbook)
        for _ in range(POLLS):
            if (await views.status(dev_env.client, incident_id)).pending_approvals:
                break
            await asyncio.sleep(0.1)
        await run("approve", incident_id, "fix", "--by", "carol", env=env)
        await dev_env.client.get_workflow_handle(incident_id).result()
        record = await archived(archive_url, incident_id)
    before = {args: await run(*args, incident_id, env=env) for args in READERS}
    before_http = await http_reads(dev_env.client, incident_id)
    assert "record archived" in before[("timeline", "--json")]
    assert record.fingerprints == [] and record.status == "resolved"
    assert record.timeline[-1]["event"] == "closed: resolved"

    await delete(dev_env.client, incident_id)
    after = {args: await run(*args, incident_id, env=env) for args in READERS}
    for args in READERS:
        assert after[args] == before[args], args
    followed = await run("timeline", incident_id, "--follow", "--json", env=env)
    told = json.loads(before[("timeline", "--json")])
    assert [json.loads(line) for line in followed.splitlines()] == told
    after_http = await http_reads(dev_env.client, incident_id)
    for path, (status, text) in before_http.items():
        diff = difflib.unified_diff(
            text.splitlines(), after_http[path][1].splitlines(), lineterm=""
        )
        assert after_http[path] == (status, text), "\n".join(diff)

    # Without the archive, Temporal alone no longer knows it: the archive answered.
    gone = await asyncio.to_thread(
        warroom, "show", incident_id, env={**env, "WARROOM_ARCHIVE_URL": ""}
    )
    assert gone.returncode != 0 and incident_id in gone.stderr


async def test_an_archive_down_at_close_delays_the_record_which_lands_once(
    setting, dev_env, task_queue, monkeypatch
):
    env, runbook = setting
    cluster = await asyncio.to_thread(Cluster)
    try:
        url = cluster.url
        Archive(url).close()  # migrated while up
        monkeypatch.setenv("WARROOM_ARCHIVE_URL", url)
        env = {**env, "WARROOM_ARCHIVE_URL": url}
        async with build_worker(dev_env.client, task_queue):
            incident_id = await declare(env, runbook)
            for _ in range(POLLS):
                if (await views.status(dev_env.client, incident_id)).pending_approvals:
                    break
                await asyncio.sleep(0.1)
            await asyncio.to_thread(cluster.stop)
            await run("approve", incident_id, "fix", "--by", "carol", env=env)
            handle = dev_env.client.get_workflow_handle(incident_id)
            # The incident closes (its state says resolved) while the record waits.
            for _ in range(POLLS):
                state = await views.status(dev_env.client, incident_id)
                if state.status == "resolved":
                    break
                await asyncio.sleep(0.1)
            assert state.status == "resolved"
            for _ in range(POLLS):  # at least one attempt failed against the stopped server
                pending = (await handle.describe()).raw_description.pending_activities
                if pending and pending[0].attempt > 1:
                    break
                await asyncio.sleep(0.1)
            assert pending and pending[0].last_failure.message
            await asyncio.to_thread(cluster.start)
            await handle.result()
            record = await archived(url, incident_id)
        archive = Archive(url)
        assert archive.count() == 1
        archive.close()
        assert record.status == "resolved"
        assert any(e["event"] == "record archived" for e in record.timeline)
    finally:
        await asyncio.to_thread(cluster.remove)
