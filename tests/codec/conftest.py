"""An encrypted stack for the codec tests: the dev server, a worker and the API (with the
codec server and tokens) in this process, all with one keys file that CLI processes get too
(`WARROOM_CODEC_KEYS`); a local endpoint for the runbook's steps."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import installed_binary
from tests.fakehttp import FakeHttp, Reply
from warroom.access.roles import ALERTS, Principal
from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.api.server import running
from warroom.contract import search_attributes
from warroom.contract.codec import KEYS_ENV, load_keys, new_key_line
from warroom.contract.converter import data_converter
from warroom.entry.devstack import free_port
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.loader import parse_runbook
from worker import build_worker

#: Words that must never reach Temporal in the clear, each planted where the incident carries
#: people's or alerts' text.
SECRETS = {
    "title": "Vault outage titleword7301",
    "summary": "summaryword7302",
    "label": "labelword7303",
    "annotation": "annotationword7304",
    "note": "noteword7305",
    "comment": "commentword7306",
    "result": "resultword7307",
    "error": "errorword7308",
}

RUNBOOK = f"""
name: vault
title: {SECRETS["title"]}
service: vault-svc
severity: SEV3
match: {{alertname: VaultDown}}
steps:
  - id: probe
    phase: triage
    action: http.request
    with: {{url: "{{{{ secret.VAULT_API }}}}/probe"}}
  - id: fix
    phase: mitigate
    approval: {{approvers: [carol]}}
    action: http.request
    with: {{method: POST, url: "{{{{ secret.VAULT_API }}}}/fix"}}
    retry: none
"""

CAROL_TOKEN = "carol-token-0123456789abc"
MALLORY_TOKEN = "mallory-token-0123456789ab"
ALERTMANAGER_TOKEN = "alertmanager-token-0123456789"
TOKENS = {
    CAROL_TOKEN: "carol",
    MALLORY_TOKEN: "mallory",
    ALERTMANAGER_TOKEN: Principal("alertmanager", None, "token:alertmanager", ALERTS),
}
CAROL = {"Authorization": f"Bearer {CAROL_TOKEN}"}
ALERTMANAGER = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"}
UI_ORIGIN = "http://127.0.0.1:18233"


@dataclass
class Stack:
    env: WorkflowEnvironment
    api: str
    http: httpx.AsyncClient
    keys_file: Path
    task_queue: str
    fake: FakeHttp

    @property
    def address(self) -> str:
        return self.env.client.service_client.config.target_host

    def cli_env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "TEMPORAL_ADDRESS": self.address,
            "WARROOM_TASK_QUEUE": self.task_queue,
            **extra,
        }

    async def warroom(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """The CLI in a thread: the worker and the API it talks to run on this event loop."""
        exe = str(Path(sys.executable).parent / "warroom")
        return await asyncio.to_thread(
            subprocess.run,
            [exe, *args],
            env=self.cli_env(**extra),
            capture_output=True,
            text=True,
            timeout=60,
        )

    async def temporal_show(self, incident_id: str, *codec: str) -> str:
        """`temporal workflow show --output json` of the incident, as the server stores it
        (or decoded through the codec server, given `--codec-endpoint …`)."""
        done = await asyncio.to_thread(
            subprocess.run,
            [installed_binary("temporal"), "workflow", "show", "-w", incident_id,
             "--address", self.address, "--output", "json", *codec],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    async def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return await self.http.post(f"{self.api}{path}", json=body, **kw)


def readable(history_json: str) -> str:
    """Everything a reader of the history finds: its text, and every base64 value decoded."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.append(node)
            with contextlib.suppress(ValueError):
                found.append(base64.b64decode(node, validate=True).decode("latin-1"))

    walk(json.loads(history_json))
    return "\n".join(found)


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("keys") / "codec-keys"
    path.write_text(new_key_line("k1"))
    before = os.environ.get(KEYS_ENV)
    os.environ[KEYS_ENV] = str(path)
    yield path
    if before is None:
        os.environ.pop(KEYS_ENV, None)
    else:
        os.environ[KEYS_ENV] = before


@pytest.fixture(scope="module")
async def stack(keys_file: Path) -> AsyncIterator[Stack]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=data_converter(load_keys(keys_file)),
        search_attributes=search_attributes.ALL,
    )
    queue = f"tq-{uuid.uuid4().hex[:12]}"
    before = {k: os.environ.get(k) for k in ("WARROOM_TASK_QUEUE", "WARROOM_SECRET_VAULT_API")}
    catalogue = Catalogue([Entry(parse_runbook(RUNBOOK))], fallback="vault")
    with FakeHttp() as fake:
        os.environ["WARROOM_TASK_QUEUE"] = queue
        os.environ["WARROOM_SECRET_VAULT_API"] = fake.url
        fake.routes[("GET", "/probe")] = Reply(200, {"found": SECRETS["result"]})
        fake.routes[("POST", "/fix")] = Reply(500, {"error": SECRETS["error"]})
        app = web_app(
            catalogue,
            Temporal(env.client),
            tokens=Tokens(TOKENS),
            codec_keys=load_keys(keys_file),
            codec_origins=frozenset({UI_ORIGIN}),
        )
        async with (
            build_worker(env.client, queue),
            running(app, "127.0.0.1", free_port()) as url,
            httpx.AsyncClient(timeout=30) as http,
        ):
            yield Stack(env, url, http, keys_file, queue, fake)
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    await env.shutdown()
