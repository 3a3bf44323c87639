"""Incidents on an encrypted stack: what Temporal stores holds none of their text (title,
summary, alert labels and annotations, notes, comments, step results, step errors), while
warroom's readers — show, timeline, postmortem, the API — read them as without encryption;
the codec server decodes for the people who may read, and only for them."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from tests.codec.conftest import (
    ALERTMANAGER,
    CAROL,
    CAROL_TOKEN,
    MALLORY_TOKEN,
    RUNBOOK,
    SECRETS,
    UI_ORIGIN,
    Stack,
    readable,
)
from warroom.contract import search_attributes as sa
from warroom.contract.codec import CodecKeyError, load_keys
from warroom.contract.converter import data_converter
from warroom.incidents import views
from warroom.record.archived import archived_runs
from warroom.record.archiver import build
from warroom.record.timeline import read_runs, timeline, told
from workflows.incident import IncidentWorkflow

#: What an alert-opened incident carries (its summary is the alert's annotation).
IN_TEMPORAL = [word for name, word in SECRETS.items() if name != "summary"]


def notification(group: str) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "VaultDown", "customer": SECRETS["label"]},
        "annotations": {"summary": SECRETS["annotation"]},
        "startsAt": "2026-12-05T01:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "a1b2c3d4e5f60718",
    }
    return {
        "version": "4",
        "groupKey": group,
        "status": "firing",
        "receiver": "warroom",
        "groupLabels": {"alertname": "VaultDown"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example",
        "alerts": [alert],
    }


async def _until(stack: Stack, incident_id: str, ready: Any) -> Any:
    for _ in range(300):
        state = await views.status(stack.env.client, incident_id)
        if ready(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{incident_id} never got there: {state}")


async def _alert_opened_incident(stack: Stack) -> str:
    """Opened by an alert; the probe's result recorded; the fix approved with a comment,
    failed with an error; a note; the fix skipped, the incident resolved."""
    opened = await stack.post(
        "/v1/alerts/alertmanager", notification("{}:vault"), headers=ALERTMANAGER
    )
    assert opened.status_code == 200, opened.text
    incident_id: str = opened.json()["incident_id"]
    await _until(stack, incident_id, lambda s: s.status == "awaiting_approval")
    path = f"/v1/incidents/{incident_id}"
    reply = await stack.post(
        f"{path}/approve", {"step": "fix", "comment": SECRETS["comment"]}, headers=CAROL
    )
    assert reply.status_code == 200, reply.text
    await _until(stack, incident_id, lambda s: any(x.status == "failed" for x in s.steps))
    reply = await stack.post(f"{path}/note", {"text": SECRETS["note"]}, headers=CAROL)
    assert reply.status_code == 200, reply.text
    reply = await stack.post(f"{path}/skip", {"step": "fix"}, headers=CAROL)
    assert reply.status_code == 200, reply.text
    await _until(stack, incident_id, lambda s: s.status == "resolved")
    return incident_id


_OPENED: dict[str, str] = {}


async def opened(stack: Stack) -> str:
    """The alert-opened incident, run once for the module."""
    if "alert" not in _OPENED:
        _OPENED["alert"] = await _alert_opened_incident(stack)
    return _OPENED["alert"]


async def test_temporal_stores_none_of_an_alert_opened_incidents_text(stack: Stack) -> None:
    incident_id = await opened(stack)
    stored = readable(await stack.temporal_show(incident_id))
    assert "binary/encrypted" in stored
    leaked = [word for word in IN_TEMPORAL if word in stored]
    assert leaked == []
    # Through the codec server (what the Temporal UI and CLI do), every one reads again.
    codec = ["--codec-endpoint", f"{stack.api}/codec", "--codec-auth", CAROL["Authorization"]]
    decoded = readable(await stack.temporal_show(incident_id, *codec))
    missing = [word for word in IN_TEMPORAL if word not in decoded]
    assert missing == []


async def test_show_timeline_postmortem_and_the_api_read_it_as_ever(stack: Stack) -> None:
    incident_id = await opened(stack)
    shown = await stack.warroom("show", incident_id)
    assert shown.returncode == 0, shown.stderr
    for word in ("title", "annotation", "note"):
        assert SECRETS[word] in shown.stdout, word
    assert "payloads: encrypted with key k1" in shown.stdout
    assert (await views.show(stack.env.client, incident_id)).json()["payload_keys"] == ["k1"]
    timeline = await stack.warroom("timeline", incident_id)
    assert timeline.returncode == 0, timeline.stderr
    for word in ("annotation", "note", "comment", "error"):
        assert SECRETS[word] in timeline.stdout, word
    postmortem = await stack.warroom("postmortem", incident_id)
    assert postmortem.returncode == 0, postmortem.stderr
    assert SECRETS["title"] in postmortem.stdout and SECRETS["annotation"] in postmortem.stdout
    api = (await stack.http.get(f"{stack.api}/v1/incidents/{incident_id}", headers=CAROL)).json()
    assert api["title"] == SECRETS["title"]
    assert any(SECRETS["label"] in json.dumps(a) for a in api["alerts"])


async def test_a_reader_without_the_key_is_told_which_key(stack: Stack, tmp_path: Any) -> None:
    incident_id = await opened(stack)
    other = tmp_path / "other-keys"
    other.write_text(stack.keys_file.read_text().replace("k1:", "k9:"))
    wrong = await stack.warroom("timeline", incident_id, WARROOM_CODEC_KEYS=str(other))
    assert wrong.returncode == 1
    assert "encrypted with key k1, which this process does not have" in wrong.stderr
    missing = await stack.warroom("show", incident_id, WARROOM_CODEC_KEYS=str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "cannot read the keys file" in missing.stderr and "nowhere" in missing.stderr


async def test_the_history_replays_with_the_codec(stack: Stack) -> None:
    incident_id = await opened(stack)
    history = await stack.env.client.get_workflow_handle(incident_id).fetch_history()
    replayer = Replayer(
        workflows=[IncidentWorkflow], data_converter=data_converter(load_keys(stack.keys_file))
    )
    await replayer.replay_workflow(history)


async def test_the_codec_server_decodes_for_readers_only(stack: Stack) -> None:
    incident_id = await opened(stack)
    history = json.loads(await stack.temporal_show(incident_id))
    start = history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]
    body = {"payloads": start["payloads"]}
    url = f"{stack.api}/codec/decode"
    decoded = await stack.http.post(url, json=body, headers={**CAROL, "X-Namespace": "default"})
    assert decoded.status_code == 200, decoded.text
    assert SECRETS["annotation"] in readable(decoded.text)
    nobody = await stack.http.post(url, json=body)
    assert nobody.status_code == 401
    forged = await stack.http.post(url, json=body, headers={"Authorization": "Bearer nope" * 4})
    assert forged.status_code == 401
    mallory = await stack.http.post(
        url, json=body, headers={"Authorization": f"Bearer {MALLORY_TOKEN}"}
    )
    assert mallory.status_code == 200  # every reader may: a responder by default
    alerts_only = await stack.http.post(url, json=body, headers=ALERTMANAGER)
    assert alerts_only.status_code == 403  # a leaked Alertmanager token decodes nothing
    assert "viewer" in alerts_only.json()["error"]
    for wrong in ({"payloads": "x"}, {"payload": []}, [1]):
        bad = await stack.http.post(url, json=wrong, headers=CAROL)
        assert bad.status_code == 400 and '{"payloads": [' in bad.json()["error"], wrong


async def test_cors_only_for_the_ui_origin(stack: Stack) -> None:
    url = f"{stack.api}/codec/decode"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    ui = await stack.http.options(url, headers={**preflight, "Origin": UI_ORIGIN})
    assert ui.status_code == 204
    assert ui.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "authorization" in ui.headers["access-control-allow-headers"]
    evil = await stack.http.options(url, headers={**preflight, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    browser = {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json", **CAROL}
    body = {"payloads": []}
    from_ui = await stack.http.post(url, json=body, headers={**browser, "Origin": UI_ORIGIN})
    assert from_ui.status_code == 200, from_ui.text
    assert from_ui.headers["access-control-allow-origin"] == UI_ORIGIN
    from_evil = await stack.http.post(
        url, json=body, headers={**browser, "Origin": "http://evil.example"}
    )
    assert from_evil.status_code == 403
    # The API's other routes stay closed to the UI's origin.
    other = await stack.http.post(
        f"{stack.api}/v1/incidents", json={}, headers={**browser, "Origin": UI_ORIGIN}
    )
    assert other.status_code == 403


async def test_a_declared_incident_stores_no_title_summary_or_reason(
    stack: Stack, tmp_path: Any
) -> None:
    runbook = tmp_path / "vault.yaml"
    runbook.write_text(RUNBOOK)
    declared = await stack.warroom(
        "declare", "--runbook", str(runbook), "--summary", SECRETS["summary"], "--by", "dave"
    )
    assert declared.returncode == 0, declared.stderr
    incident_id = declared.stdout.strip().split()[-1]
    await _until(stack, incident_id, lambda s: s.status == "awaiting_approval")
    reason = "reasonword7309"
    aborted = await stack.post(
        f"/v1/incidents/{incident_id}/abort", {"reason": reason}, headers=CAROL
    )
    assert aborted.status_code == 200, aborted.text
    stored = readable(await stack.temporal_show(incident_id))
    assert [w for w in (SECRETS["title"], SECRETS["summary"], reason) if w in stored] == []
    state = await views.status(stack.env.client, incident_id)
    assert (state.title, state.summary) == (SECRETS["title"], SECRETS["summary"])
    assert any(reason in e.detail for e in await timeline(stack.env.client, incident_id))


def plain_payloads(history_json: str) -> set[str]:
    """Where the history holds a payload that is not encrypted: its field's path (list
    indices left out)."""
    found: set[str] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            metadata = node.get("metadata")
            if isinstance(metadata, dict) and "encoding" in metadata and "data" in node:
                if base64.b64decode(metadata["encoding"]) != b"binary/encrypted":
                    found.add(path)
                return
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    walk(json.loads(history_json), "")
    return found


async def test_only_search_attributes_and_patch_markers_stay_plain(stack: Stack) -> None:
    """What the README lists as plain: the search attributes (the SDK's patch versions among
    them) and the patch markers' ids; user metadata (the UI's summaries) is encrypted too."""
    incident_id = await opened(stack)
    plain = plain_payloads(await stack.temporal_show(incident_id))
    attributes = ".events.upsertWorkflowSearchAttributesEventAttributes.searchAttributes"
    assert plain <= {
        *(f"{attributes}.indexedFields.{name}" for name in (*sa.NAMES, "TemporalChangeVersion")),
        ".events.markerRecordedEventAttributes.details.patch-data.payloads",
    }
    assert f"{attributes}.indexedFields.IncidentSeverity" in plain  # the check sees them


async def sign_in(console: httpx.AsyncClient) -> None:
    """Carol signs in to the console through its form (the client keeps the cookie)."""
    form = (await console.get("/console/sign-in")).text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found is not None
    signed = await console.post(
        "/console/sign-in", data={"csrf": found.group(1), "token": CAROL_TOKEN}
    )
    assert signed.status_code == 303, signed.text


async def test_the_console_pages_read_it_as_ever(stack: Stack) -> None:
    incident_id = await opened(stack)
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as console:
        await sign_in(console)
        page = (await console.get(f"/console/incidents/{incident_id}")).text
        for word in ("title", "annotation", "note", "comment"):
            assert html.escape(SECRETS[word]) in page, word
        postmortem = (await console.get(f"/console/incidents/{incident_id}/postmortem")).text
        assert SECRETS["title"] in postmortem


async def test_the_archived_record_reads_back_with_the_keys(stack: Stack) -> None:
    """The archive keeps the histories as Temporal gave them, encrypted: read back with the
    keys they tell the story whole; without them, the reader says which key it needs."""
    incident_id = await opened(stack)
    client = stack.env.client
    described = await client.get_workflow_handle(incident_id).describe()
    state = await views.status(client, incident_id)
    record = await build(client, incident_id, described.run_id, state, complete=True)
    assert [w for w in IN_TEMPORAL if w in "".join(text for _, text in record.runs)] == []
    runs = archived_runs(record)
    story = told(incident_id, await read_runs(client, runs))
    assert any(SECRETS["note"] in e.detail for e in story.entries)
    assert story.run_keys == ["k1"]
    keyless = await Client.connect(stack.address, data_converter=data_converter())
    with pytest.raises(CodecKeyError, match=r"encrypted with key k1.*set WARROOM_CODEC_KEYS"):
        await read_runs(keyless, runs)


async def test_the_console_session_decodes_and_signing_out_ends_it(stack: Stack) -> None:
    """The Temporal UI sends the browser's cookies (`includeCredentials`): the console's
    session cookie reaches `/codec`, and is enough there, until sign-out."""
    incident_id = await opened(stack)
    history = json.loads(await stack.temporal_show(incident_id))
    start = history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]
    body = {"payloads": start["payloads"]}
    browser = {"Sec-Fetch-Site": "same-site", "Origin": UI_ORIGIN}
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as console:
        assert (await console.post("/codec/decode", json=body, headers=browser)).status_code == 401
        await sign_in(console)
        decoded = await console.post("/codec/decode", json=body, headers=browser)
        assert decoded.status_code == 200, decoded.text
        assert SECRETS["annotation"] in readable(decoded.text)
        assert decoded.headers["access-control-allow-credentials"] == "true"
        assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
        evil = {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}
        assert (await console.post("/codec/decode", json=body, headers=evil)).status_code == 403
        # A bearer token, when given, is what counts: a wrong one is refused, session or not.
        wrong = {**browser, "Authorization": "Bearer nope" * 4}
        assert (await console.post("/codec/decode", json=body, headers=wrong)).status_code == 401
        page = (await console.get("/console/")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        out = await console.post("/console/sign-out", data={"csrf": csrf.group(1)})
        assert out.status_code == 303, out.text
        ended = sorted(
            c.split("Path=")[1].split(";")[0] for c in out.headers.get_list("set-cookie")
        )
        assert ended == ["/", "/console"]  # and a session kept before the path widened
        after = await console.post("/codec/decode", json=body, headers=browser)
        assert after.status_code == 401
