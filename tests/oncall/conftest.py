"""Fixtures of the on-call tests: a time-skipping server of their own, for tests whose
workflows must not share the session's server (a workflow stopped while it still had work
can hold that server's clock for the tests after it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import time_skipping_server


@pytest.fixture(scope="module")
async def own_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test module."""
    async for env in time_skipping_server():
        yield env


@pytest.fixture
async def lone_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test."""
    async for env in time_skipping_server():
        yield env
