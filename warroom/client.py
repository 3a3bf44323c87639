"""The one Temporal client factory: Temporal's own client configuration plus the pydantic converter."""

from __future__ import annotations

import os

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig, ClientConnectConfig

from warroom.errors import ServerUnreachable

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_TASK_QUEUE = "warroom"


def task_queue() -> str:
    """The task queue incidents run on: $WARROOM_TASK_QUEUE or `warroom`."""
    return os.environ.get("WARROOM_TASK_QUEUE") or DEFAULT_TASK_QUEUE


def connect_config(address: str | None = None) -> ClientConnectConfig:
    """TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TLS / TOML profiles, then `address`."""
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if address:
        config["target_host"] = address
    return config


async def connect(address: str | None = None) -> Client:
    config = connect_config(address)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServerUnreachable(config["target_host"], reason) from exc
