"""Shared fixtures: real Temporal servers from the installed binaries, fresh task queues, a fake HTTP peer."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp
from warroom.contract import client as temporal_client
from warroom.contract import search_attributes
from warroom.contract.codec import KEYS_ENV, Keys, load_keys, new_key_line
from warroom.contract.converter import data_converter
from warroom.errors import WarroomError

ROOT = Path(__file__).resolve().parent.parent


def installed_binary(name: str) -> str:
    """A binary installed into the venv by `make`; missing means a broken install: fail, never skip."""
    try:
        return temporal_client.installed_binary(name)
    except WarroomError as exc:
        pytest.fail(f"{exc} (`make test` installs the dev extras)")


def system_binary(name: str) -> str:
    """A binary from a Debian package (`.ci/run` installs them); missing: fail, never skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install the Debian package (see .ci/run)")
    return path


#: `WARROOM_TEST_ENCRYPT=1`: the suite's incidents on `dev_env` and `time_env` run encrypted, and
#: every client, worker and CLI process of the session gets the key (WARROOM_CODEC_KEYS).
ENCRYPT_ENV = "WARROOM_TEST_ENCRYPT"


@pytest.fixture(scope="session")
def suite_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys | None]:
    if os.environ.get(ENCRYPT_ENV) != "1":
        yield None
        return
    path = tmp_path_factory.mktemp("suite-keys") / "codec-keys"
    path.write_text(new_key_line("suite"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEYS_ENV, str(path))
        yield load_keys(path)


async def time_skipping_server(keys: Keys | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server (timers complete at once while a client waits)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=data_converter(keys),
    )
    await search_attributes.register(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_env(suite_keys: Keys | None) -> AsyncIterator[WorkflowEnvironment]:
    """The session's time-skipping server."""
    async for env in time_skipping_server(suite_keys):
        yield env


async def dev_server(keys: Keys | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (`temporal server start-dev`) on a free loopback port."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=data_converter(keys),
        search_attributes=search_attributes.ALL,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env(suite_keys: Keys | None) -> AsyncIterator[WorkflowEnvironment]:
    """The session's dev server."""
    async for env in dev_server(suite_keys):
        yield env


@pytest.fixture
async def codec_args(
    suite_keys: Keys | None, dev_env: WorkflowEnvironment
) -> AsyncIterator[tuple[str, ...]]:
    """The plain `temporal` CLI's codec arguments: none, or (`WARROOM_TEST_ENCRYPT=1`)
    warroom's codec server with the suite's keys, which the CLI encodes its input and decodes
    its output with, as a person's would against an encrypted deployment."""
    if suite_keys is None:
        yield ()
        return
    from warroom.api.app import Temporal, create_app
    from warroom.api.server import running
    from warroom.entry.devstack import free_port
    from warroom.language.catalogue import Catalogue, Entry
    from warroom.language.loader import parse_runbook

    only = parse_runbook(
        "name: general\ntitle: codec only\nsteps:\n"
        "  - {id: n, phase: triage, action: note, with: {text: n}}\n"
    )
    app = create_app(Catalogue([Entry(only)]), Temporal(dev_env.client), codec_keys=suite_keys)
    async with running(app, "127.0.0.1", free_port()) as url:
        yield ("--codec-endpoint", f"{url}/codec")


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fake_http() -> Iterator[FakeHttp]:
    with FakeHttp() as server:
        yield server


#: The slow suites (a real browser, PostgreSQL, the fault suite, process-heavy abuse and
#: property runs): marked `slow`, so `make test` leaves them out and `make test-slow` (and CI,
#: which runs both) runs them. A single slow test elsewhere says `@pytest.mark.slow` itself.
SLOW_SUITES = (
    "archive/",
    "console/",
    "faults/",
    "api/test_docs.py",
    "cli/test_cli_abuse.py",
    "cli/test_secrets_e2e.py",
    "language/test_runbook_properties.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        where = item.path.relative_to(tests).as_posix()
        if where.startswith(SLOW_SUITES):
            item.add_marker(pytest.mark.slow)
