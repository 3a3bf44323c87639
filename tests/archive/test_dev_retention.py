"""`warroom dev` sets its namespace's retention on purpose (30 days unless `--retention`),
and says so, with where the archive is, at start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from tests.entry.test_devstack import stop_dev
from warroom.entry.devstack import free_port


def start(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], str, int]:
    port = free_port()
    exe = str(Path(sys.executable).parent / "warroom")
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_ARCHIVE_URL"}
    proc = subprocess.Popen(
        [exe, "dev", "--data-dir", str(data_dir), "--port", str(port), "--ui-port",
         str(free_port()), "--api-port", str(free_port()), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ready."):
            return proc, "".join(lines), port
    proc.kill()
    raise AssertionError("warroom dev did not get ready:\n" + "".join(lines))


async def retention_of(port: int) -> float:
    client = await Client.connect(f"127.0.0.1:{port}")
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta().total_seconds()


async def test_dev_keeps_histories_30_days_by_default_and_as_long_as_asked(tmp_path):
    proc, out, port = await asyncio.to_thread(start, tmp_path / "a")
    try:
        assert "retention:    30d" in out, out
        assert f"archive:      sqlite:///{(tmp_path / 'a').resolve()}/archive.db" in out, out
        assert await retention_of(port) == 30 * 86400
    finally:
        await asyncio.to_thread(stop_dev, proc)
    proc, out, port = await asyncio.to_thread(start, tmp_path / "b", "--retention", "90d")
    try:
        assert "retention:    90d" in out, out
        assert await retention_of(port) == 90 * 86400
    finally:
        await asyncio.to_thread(stop_dev, proc)
