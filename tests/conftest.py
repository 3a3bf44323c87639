"""Shared fixtures: real Temporal servers from the installed binaries, fresh task queues, a fake HTTP peer."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp
from warroom.contract import client as temporal_client
from warroom.contract import search_attributes
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


async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server (timers complete at once while a client waits)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await search_attributes.register(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The session's time-skipping server."""
    async for env in time_skipping_server():
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (`temporal server start-dev`) on a free loopback port."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fake_http() -> Iterator[FakeHttp]:
    with FakeHttp() as server:
        yield server
