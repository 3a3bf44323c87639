"""The outside world of the shipped runbooks, faked at its protocol: Prometheus answers on a
FakeHttp, a `kubectl` on the worker's PATH that records its argv, an SMTP server that can
require a login, and poll loops that do not sleep (the time-skipping server skips workflow
timers, not the sleeps of a running activity)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from activities import polling
from tests.activities.test_email import Mailbox
from tests.fakehttp import Reply
from warroom.language.loader import load_runbook


def vector(value: float, **labels: str) -> Reply:
    """Prometheus's answer to an instant query with one sample."""
    sample = {"metric": labels, "value": [1764072000.0, str(value)]}
    data = {"resultType": "vector", "result": [sample]}
    return Reply(200, {"status": "success", "data": data})


def promql(runbook: str, step: str) -> str:
    """The PromQL a shipped runbook's step sends."""
    found = next(s for s in load_runbook(runbook).steps if s.id == step)
    query: str = found.with_["query"]
    return query


def query_path(prefix: str, query: str) -> str:
    """The request path (as FakeHttp records it) of an instant query under `prefix`."""
    url = httpx.URL(f"http://h{prefix}/api/v1/query", params={"query": query})
    return url.raw_path.decode()


class FakeProgram:
    """An executable named `name` in `folder` that appends its argv (as JSON) to a log and
    prints `output`; put `folder` first on PATH and allow `name` in WARROOM_EXEC_ALLOW."""

    def __init__(self, folder: Path, name: str, output: str = "") -> None:
        self.log = folder / f"{name}.argv"
        script = folder / name
        script.write_text(
            f"#!{sys.executable}\nimport json, sys\n"
            f"with open({str(self.log)!r}, 'a') as log:\n"
            "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
            f"print({output!r})\n"
        )
        script.chmod(0o755)

    @property
    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def fake_program(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str) -> FakeProgram:
    folder.mkdir(exist_ok=True)
    program = FakeProgram(folder, name, f"{name}: done")
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    monkeypatch.setenv("WARROOM_EXEC_ALLOW", name)
    return program


@dataclass
class LoginMailbox(Mailbox):
    """A Mailbox that takes only `username` / `password` (AUTH PLAIN or LOGIN)."""

    username: str = ""
    password: str = ""

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.username.encode()
            and data.password == self.password.encode()
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)


def instant_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """http.wait / prometheus.wait check again at once instead of after `interval`."""

    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    fast = types.SimpleNamespace(sleep=no_sleep, timeout=asyncio.timeout)
    monkeypatch.setattr(polling, "asyncio", fast)
