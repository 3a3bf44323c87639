"""Fixtures of the on-call tests: a time-skipping server of their own, for tests whose
workflows must not share the session's server (a workflow stopped while it still had work
can hold that server's clock for the tests after it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import installed_binary
from warroom.contract import search_attributes


async def _own_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await search_attributes.register(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def own_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test module."""
    async for env in _own_server():
        yield env


@pytest.fixture
async def lone_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test."""
    async for env in _own_server():
        yield env
