"""A dev server that dies at start because a port it picked itself was taken (it panics in
NewHTTPAPIServer) is started again; any other death at start is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from warroom.entry.devstack import DevServer, free_port
from warroom.errors import WarroomError

PANIC = (
    "echo 'panic: runtime error: invalid memory address or nil pointer dereference'; "
    "echo 'go.temporal.io/server/service/frontend.NewHTTPAPIServer(0x3acd4872908)'; exit 2"
)


def dying_first(server: DevServer, script: str) -> list[int]:
    real, calls = server.command, []

    def command() -> list[str]:
        calls.append(1)
        return ["sh", "-c", script] if len(calls) == 1 else real()

    server.command = command  # type: ignore[method-assign]
    return calls


async def test_a_server_that_lost_a_port_race_is_started_again(tmp_path: Path) -> None:
    server = DevServer(tmp_path, port=free_port(), ui_port=free_port())
    calls = dying_first(server, PANIC)
    server.start()
    try:
        client = await server.wait_ready()
        assert len(calls) == 2
        assert (await client.service_client.check_health()) is True
    finally:
        server.stop()


async def test_any_other_death_at_start_is_reported(tmp_path: Path) -> None:
    server = DevServer(tmp_path, port=free_port(), ui_port=free_port())
    calls = dying_first(server, "echo 'error: unknown flag --nope'; exit 1")
    server.start()
    with pytest.raises(WarroomError, match="exited with code 1: error: unknown flag --nope"):
        await server.wait_ready()
    assert len(calls) == 1
