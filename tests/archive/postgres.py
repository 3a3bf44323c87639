"""A throwaway PostgreSQL cluster for the archive's tests: Debian's server, run as the
`postgres` user through `runuser` (it refuses to run as root), in a temp dir, on a free
loopback port; removed after. Missing PostgreSQL fails the test (`.ci/run` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from warroom.entry.devstack import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*args: str) -> None:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")


class Cluster:
    def __init__(self) -> None:
        if not (BIN / "initdb").exists() or shutil.which("runuser") is None:
            pytest.fail("PostgreSQL 15 is not installed: apt-get install postgresql (see .ci/run)")
        self.dir = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self.port = free_port()
        _as_postgres(
            str(BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres"
        )
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        _as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-o", options,
            "-l", str(self.dir / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def database(self) -> str:
        """A fresh database's URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
