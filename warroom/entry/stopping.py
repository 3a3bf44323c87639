"""SIGINT and SIGTERM both mean "stop gracefully" for warroom's long-running processes.

systemd and Kubernetes stop a service with SIGTERM; it must get the same orderly shutdown
as a Ctrl-C. Once one arrived, the default behaviour returns (a second Ctrl-C stops at once).
"""

from __future__ import annotations

import asyncio
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_signal() -> asyncio.Future[str]:
    """Catch SIGINT and SIGTERM from now on; the future gets the first one's name (`SIGTERM`).

    The handlers are in place when this returns, so a process can announce it is ready
    right after without losing a signal sent in reply.
    """
    loop = asyncio.get_running_loop()
    received: asyncio.Future[str] = loop.create_future()

    def receive(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig.name)

    def restore(_: asyncio.Future[str]) -> None:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, receive, sig)
    received.add_done_callback(restore)
    return received
