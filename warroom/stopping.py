"""SIGINT and SIGTERM both mean "stop gracefully" for warroom's long-running processes.

systemd and Kubernetes stop a service with SIGTERM; it must get the same orderly shutdown
as a Ctrl-C. A second signal, once shutdown has begun, gets the default behaviour (stop now).
"""

from __future__ import annotations

import asyncio
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def stop_requested() -> str:
    """Wait for SIGINT or SIGTERM; returns its name (`SIGTERM`)."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def receive(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, receive, sig)
    try:
        return (await received).name
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
