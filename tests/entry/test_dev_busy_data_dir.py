"""A second `warroom dev` on a data dir in use says so and nothing else: no "starting Temporal
dev server …" line before its error (it starts nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.test_cli import warroom
from warroom.entry.devstack import data_dir_lock, free_port


def test_a_busy_data_dir_is_the_only_word(tmp_path: Path):
    data_dir = tmp_path / "data"
    with data_dir_lock(data_dir):  # as a running `warroom dev` holds it
        ports = ["--port", str(free_port()), "--ui-port", str(free_port())]
        done = warroom(
            "dev", "--data-dir", str(data_dir), *ports, "--api-port", str(free_port()),
            env=dict(os.environ), timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"error: data dir {data_dir} is in use by warroom dev (pid {os.getpid()}): "
        "stop that one, or pass another --data-dir\n"
    )
    assert not (data_dir / "temporal.log").exists()  # no server was started
