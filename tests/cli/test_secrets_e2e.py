"""End to end on the real dev server: an incident whose runbook uses secrets in every way the
rule allows, and in every action that carries one (Slack bot token, PagerDuty routing key,
Statuspage API key, SMTP password, webhook HMAC key, Basic and Bearer auth), against a loopback
echo that sends them back and fakes that accept only the right secret where the real API reads
it. No encoded form of a secret may appear in the decoded workflow history, the worker's log,
or any CLI command's output."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from activities.webhook import SIGNATURE_HEADER, json_bytes
from tests.activities.test_email import serve
from tests.cli.test_cli import wait_for, warroom
from tests.fakehttp import FakeHttp, Recorded, Reply
from tests.runbooks.world import LoginMailbox
from tests.secretforms import HEADER_SECRET, URL_SECRET, EchoServer, leaks
from worker import build_worker

#: One secret per action that carries one, each with `+/=`, quotes and a backslash, and
#: non-ASCII where the protocol carries it (a JSON body, an HMAC key, Basic auth's base64);
#: header values and SMTP AUTH are ASCII.
ACTION_SECRETS = {
    "LEAK_SLACK": "xoxb-sl+/=\"q\\'Zk=slack-7d1c",
    "LEAK_PD": "pd\u00fc+/=\"r\\'k\u00e9\u2713-route-5b2a",
    "LEAK_SP": "sp+/=\"o\\'Au=page-key-9e4f",
    "LEAK_SMTP": "sm+/=\"t\\'Pw=mail-pass-3c8d",
    "LEAK_HMAC": "wh\u00fc+/=\"m\\'ac\u2713-sign-6a0b",
    "LEAK_BASIC": "ba\u00fc+/=\"s\\'ic\u00e9-pass-1f7e",
    "LEAK_BEARER": "be+/=\"a\\'Rr=token-8b3d",
}
SECRETS = [URL_SECRET, HEADER_SECRET, *ACTION_SECRETS.values()]
PAGE_INCIDENT = "p31zjtct2jer"

RUNBOOK = """
name: secret-leaks
title: Secrets in every encoding
severity: SEV3
updates:
  - {action: webhook.post, with: {url: "{{ secret.LEAK_ECHO }}/hook/{{ secret.LEAK_URL }}"}}
steps:
  - id: query
    phase: triage
    action: http.request
    with: {url: "{{ secret.LEAK_ECHO }}/q?token={{ secret.LEAK_URL | urlencode }}"}
  - id: auth
    phase: triage
    action: http.request
    with:
      method: POST
      url: "{{ secret.LEAK_ECHO }}/p/{{ secret.LEAK_URL }}?again={{ secret.LEAK_URL }}"
      headers:
        Authorization: "Basic {{ ('user:' ~ secret.LEAK_HDR) | b64encode }}"
        X-Token: "Bearer {{ secret.LEAK_HDR }}"
      json: {seen: "{{ steps['query'].result.json.raw }}", token: "{{ secret.LEAK_HDR }}"}
  - id: basic
    phase: triage
    action: http.request
    with:
      url: "{{ secret.LEAK_ECHO }}/basic"
      basic_auth: {username: user, password: "{{ secret.LEAK_BASIC }}"}
  - id: bearer
    phase: triage
    action: http.request
    with: {url: "{{ secret.LEAK_ECHO }}/bearer", bearer: "{{ secret.LEAK_BEARER }}"}
  - id: slack
    phase: triage
    action: slack.post
    with:
      api_url: "{{ secret.LEAK_SVC }}/slack"
      token: "{{ secret.LEAK_SLACK }}"
      channel: C0INCIDENTS
      text: Investigating
  - id: page
    phase: triage
    action: pagerduty.event
    with:
      url: "{{ secret.LEAK_SVC }}/pagerduty"
      routing_key: "{{ secret.LEAK_PD }}"
      event_action: trigger
      summary: Secrets in every encoding
      source: warroom
      severity: critical
  - id: status-page
    phase: triage
    action: statuspage.update
    with:
      api_url: "{{ secret.LEAK_SVC }}/statuspage"
      page_id: kctbh9vrtdwd
      api_key: "{{ secret.LEAK_SP }}"
      name: Secrets in every encoding
      status: investigating
  - id: signed-hook
    phase: triage
    action: webhook.post
    with: {url: "{{ secret.LEAK_SVC }}/hook", text: Signed, hmac_secret: "{{ secret.LEAK_HMAC }}"}
  - id: mail
    phase: triage
    action: email.send
    with:
      host: 127.0.0.1
      port: SMTP_PORT
      username: warroom
      password: "{{ secret.LEAK_SMTP }}"
      from: warroom@example.com
      to: [oncall@example.com]
      subject: Secrets in every encoding
      text: Investigating.
  - id: failing
    phase: mitigate
    action: http.request
    retry: none
    with: {url: "{{ secret.LEAK_ECHO }}/fail?token={{ secret.LEAK_URL | urlencode }}"}
  - id: bad-template
    phase: mitigate
    action: http.request
    retry: none
    # Using a secret as a key is refused at load, so this one fails only while rendering,
    # after the secrets were read.
    with: {url: "{{ secret.LEAK_ECHO }}/{{ secret.LEAK_URL ~ steps.query.result.json.missing }}"}
"""


def payload_texts(data: Any) -> Iterator[str]:
    """Every string in a history event, with each payload decoded (and its JSON walked)."""
    if isinstance(data, dict):
        if "data" in data and isinstance(data.get("metadata"), dict):
            try:
                text = base64.b64decode(data["data"]).decode("utf-8", "replace")
            except binascii.Error:
                text = ""
            yield text
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = None
            yield from payload_texts(decoded)
        for key, value in data.items():
            yield key
            yield from payload_texts(value)
    elif isinstance(data, list):
        for value in data:
            yield from payload_texts(value)
    elif isinstance(data, str):
        yield data


def services(smtp_password: str) -> tuple[FakeHttp, LoginMailbox]:
    """Slack, PagerDuty, Statuspage, a signed-webhook receiver and an SMTP server, each taking
    only its secret where the real one reads it, and refusing otherwise as the real one does."""
    fake = FakeHttp()

    def slack(r: Recorded) -> Reply:
        if r.headers.get("Authorization") != f"Bearer {ACTION_SECRETS['LEAK_SLACK']}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        return Reply(200, {"ok": True, "channel": r.body["channel"], "ts": "1732530000.000100"})

    def pagerduty(r: Recorded) -> Reply:
        if r.body.get("routing_key") != ACTION_SECRETS["LEAK_PD"]:
            return Reply(400, {"status": "invalid event", "errors": ["Invalid routing key"]})
        return Reply(202, {"status": "success", "dedup_key": r.body["dedup_key"]})

    def statuspage(r: Recorded) -> Reply:
        if r.headers.get("Authorization") != f"OAuth {ACTION_SECRETS['LEAK_SP']}":
            return Reply(401, {"error": "Could not authenticate"})
        return Reply(201, {"id": PAGE_INCIDENT, "status": r.body["incident"]["status"]})

    def hook(r: Recorded) -> Reply:
        key = ACTION_SECRETS["LEAK_HMAC"].encode()
        digest = hmac.new(key, json_bytes(r.body), hashlib.sha256).hexdigest()
        return Reply(200 if r.headers.get(SIGNATURE_HEADER) == f"sha256={digest}" else 401, {})

    fake.routes[("POST", "/slack/chat.postMessage")] = slack
    fake.routes[("POST", "/pagerduty")] = pagerduty
    fake.routes[("POST", "/statuspage/v1/pages/kctbh9vrtdwd/incidents")] = statuspage
    fake.routes[("POST", "/hook")] = hook
    return fake, LoginMailbox(username="warroom", password=smtp_password)


async def test_no_form_of_a_secret_reaches_history_log_or_cli(
    dev_env, task_queue, monkeypatch, tmp_path, caplog: pytest.LogCaptureFixture
):
    fake, mailbox = services(ACTION_SECRETS["LEAK_SMTP"])
    smtp = serve(mailbox, authenticator=mailbox.authenticate, auth_require_tls=False)
    runbook = tmp_path / "secret-leaks.yaml"
    runbook.write_text(RUNBOOK.replace("SMTP_PORT", str(smtp.port)))
    with EchoServer() as echo, fake, caplog.at_level(logging.DEBUG):
        monkeypatch.setenv("WARROOM_SECRET_LEAK_ECHO", echo.url)
        monkeypatch.setenv("WARROOM_SECRET_LEAK_SVC", fake.url)
        monkeypatch.setenv("WARROOM_SECRET_LEAK_URL", URL_SECRET)
        monkeypatch.setenv("WARROOM_SECRET_LEAK_HDR", HEADER_SECRET)
        for name, value in ACTION_SECRETS.items():
            monkeypatch.setenv(f"WARROOM_SECRET_{name}", value)
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "WARROOM_TASK_QUEUE": task_queue,
        }

        def cli(*args: str) -> str:
            done = warroom(*args, env=env)
            assert done.returncode == 0, done.stderr
            return done.stdout + done.stderr

        try:
            async with build_worker(dev_env.client, task_queue):
                declared = await asyncio.to_thread(
                    cli, "declare", "--runbook", str(runbook), "--summary", "leaks"
                )
                incident_id = declared.strip()
                outputs = [declared]
                for step in ("failing", "bad-template"):
                    await wait_for(
                        lambda s, step=step: (
                            s["status"] == "paused"
                            and any(x["id"] == step and x["status"] == "failed" for x in s["steps"])
                        ),
                        "show",
                        incident_id,
                        env=env,
                    )
                    outputs += [
                        await asyncio.to_thread(cli, *c) for c in read_commands(incident_id)
                    ]
                    outputs.append(
                        await asyncio.to_thread(cli, "skip", incident_id, step, "--by", "al")
                    )
                state = await wait_for(
                    lambda s: s["status"] == "resolved", "show", incident_id, env=env
                )
                outputs += [await asyncio.to_thread(cli, *c) for c in read_commands(incident_id)]
                history = await dev_env.client.get_workflow_handle(incident_id).fetch_history()
        finally:
            smtp.stop()

    # The incident really used the secrets, and the leak paths were really exercised: each
    # fake took its secret where the real API reads it (or the step would have failed).
    assert [s["status"] for s in state["steps"]] == ["succeeded"] * 9 + ["skipped"] * 2
    assert any(URL_SECRET in r.path or "%C3%BC" in r.path for r in echo.requests)
    basic = f"user:{ACTION_SECRETS['LEAK_BASIC']}".encode()
    by_path = {r.path: r.headers.get("Authorization") for r in echo.requests}
    assert by_path["/basic"] == f"Basic {base64.b64encode(basic).decode()}"
    assert by_path["/bearer"] == f"Bearer {ACTION_SECRETS['LEAK_BEARER']}"
    assert [len(fake.requests), mailbox.logins, len(mailbox.messages)] == [4, ["warroom"], 1]
    failed = [
        r for r in caplog.records if r.getMessage().startswith("Completing activity as failed")
    ]
    assert len(failed) >= 2 and any(r.name == "httpx" for r in caplog.records)

    texts = [t for event in history.events for t in payload_texts(MessageToDict(event))]
    assert any("/q?token=***" in t for t in texts)  # the echo is in history, scrubbed
    assert any("Basic ***" in t for t in texts) and any("Bearer ***" in t for t in texts)
    assert leaks(texts, SECRETS) == []
    assert leaks([caplog.text], SECRETS) == []
    assert leaks(outputs, SECRETS) == []


def read_commands(incident_id: str) -> list[tuple[str, ...]]:
    return [
        ("show", incident_id),
        ("show", incident_id, "--json"),
        ("timeline", incident_id),
        ("timeline", incident_id, "--json"),
        ("list",),
        ("list", "--json"),
    ]
