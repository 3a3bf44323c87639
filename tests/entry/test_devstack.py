"""`warroom dev`: starts the dev server + worker, stops everything on Ctrl-C, keeps incidents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import GATED
from tests.cli.test_cli import warroom
from tests.fakehttp import Reply
from warroom.entry.devstack import free_port


def start_dev(
    data_dir: Path,
    port: int,
    env: dict[str, str],
    api_port: int | None = None,
    *extra: str,
    ui_port: int | None = None,
) -> subprocess.Popen[str]:
    exe = str(Path(sys.executable).parent / "warroom")
    api_port = api_port or free_port()  # parallel tests cannot all use 8080
    proc = subprocess.Popen(
        [
            exe,
            "dev",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--ui-port",
            str(ui_port or free_port()),
            "--api-port",
            str(api_port),
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ready."):
            assert any(x.startswith("Temporal UI:  http://127.0.0.1:") for x in lines), lines
            assert f"API:          http://127.0.0.1:{api_port} " in "".join(lines), lines
            return proc
    proc.kill()
    raise AssertionError("warroom dev did not get ready:\n" + "".join(lines))


def stop_dev(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def servers_using(data_dir: Path) -> list[int]:
    """Pids of processes whose command line names this data dir (the temporal server)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(data_dir / "temporal.db") in cmdline:
                pids.append(int(entry.name))
    return pids


def show(incident_id: str, env: dict[str, str]) -> dict:
    done = warroom("show", incident_id, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_status(incident_id: str, status: str, env: dict[str, str]) -> dict:
    for _ in range(150):
        state = show(incident_id, env)
        if state["status"] == status:
            return state
        time.sleep(0.2)
    raise AssertionError(f"{incident_id} never became {status}: {state}")


def test_dev_stops_cleanly_and_incidents_survive_a_restart(tmp_path, fake_http):
    fake_http.routes[("GET", "/look")] = Reply(200, {"ok": True})
    fake_http.routes[("POST", "/fix")] = Reply(200, {"fixed": True})
    runbook = tmp_path / "cli-gated.yaml"
    runbook.write_text(GATED)
    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "WARROOM_SECRET_CLI_API": fake_http.url,
    }

    api_port = free_port()
    proc = start_dev(data_dir, port, env, api_port)
    try:
        assert servers_using(data_dir), "the dev server should be running"
        ready = httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        done = warroom("declare", "--runbook", str(runbook), "--summary", "restart me", env=env)
        assert done.returncode == 0, done.stderr
        incident_id = done.stdout.strip()
        wait_status(incident_id, "awaiting_approval", env)
    finally:
        assert stop_dev(proc).startswith("stopping")
    assert servers_using(data_dir) == [], "Ctrl-C must leave no temporal server behind"
    with pytest.raises(httpx.ConnectError):  # the API stopped with them
        httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=5)
    assert (data_dir / "temporal.db").exists()

    proc = start_dev(data_dir, port, env)
    try:
        assert show(incident_id, env)["status"] == "awaiting_approval"
        done = warroom("approve", incident_id, "fix", "--by", "carol", env=env)
        assert done.returncode == 0, done.stderr
        state = wait_status(incident_id, "resolved", env)
        assert state["steps"][1]["decided_by"] == "carol"
    finally:
        stop_dev(proc)
    assert servers_using(data_dir) == []


def test_dev_refuses_a_port_in_use(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = warroom(
            "dev", "--data-dir", str(tmp_path), "--port", str(port), env=dict(os.environ)
        )
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and "already in use" in done.stderr


def test_a_killed_warroom_dev_takes_its_server_with_it(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    proc = start_dev(data_dir, port, {**os.environ, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"})
    assert servers_using(data_dir)
    proc.kill()  # no chance to clean up: the server must still go (parent-death signal)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while servers_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert servers_using(data_dir) == []


def test_a_data_dir_serves_one_warroom_dev_at_a_time_and_sigkill_frees_it(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
    first = start_dev(data_dir, port, env)
    try:
        other_ports = ["--port", str(free_port()), "--ui-port", str(free_port())]
        # A second one on the same data dir would serve the same SQLite file; the timeout
        # only keeps this test from hanging if it did start.
        second = warroom("dev", "--data-dir", str(data_dir), *other_ports, env=env, timeout=60)
        assert second.returncode == 1
        assert second.stderr == (
            f"error: data dir {data_dir} is in use by warroom dev (pid {first.pid}): "
            "stop that one, or pass another --data-dir\n"
        )
        assert len(servers_using(data_dir)) == 1
    finally:
        first.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock
        first.wait(timeout=30)
    deadline = time.monotonic() + 30
    while servers_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)  # the killed one's server follows it (parent-death signal)
    third = start_dev(data_dir, free_port(), {**os.environ})
    assert (data_dir / "lock").read_text() == f"{third.pid}\n"
    stop_dev(third)
