"""The archive's fixtures: every archive test runs against SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.archive.postgres import Cluster
from warroom.archive.store import sqlite_url


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    cluster = Cluster()
    yield cluster
    cluster.remove()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def archive_url(request, tmp_path) -> str:
    """A fresh, empty archive's URL, in each database the archive supports."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("postgres").database()
