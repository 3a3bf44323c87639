"""The audit trail of access: every sign-in, sign-out and refused action goes to the
structured log (logger `warroom.audit`, one JSON object a line, its fields also in the record's
`extra`) and to whoever listens (the API counts them in `/metrics`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

log = logging.getLogger("warroom.audit")

#: Called with (event, via-kind) for every event: `sign_in`, `sign_out`, `refused`.
Listener = Callable[[str, str], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Add a listener; the returned function removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def kind_of(via: str) -> str:
    """`token:alertmanager` → `token` (a label with few values)."""
    return via.partition(":")[0]


def _emit(event: str, **fields: str) -> None:
    log.warning(json.dumps({"event": event, **fields}), extra={"audit": {"event": event, **fields}})
    for listener in list(_listeners):
        listener(event, kind_of(fields.get("via", "")))


def signed_in(identity: str, via: str, role: str) -> None:
    _emit("sign_in", identity=identity, via=via, role=role)


def signed_out(identity: str, via: str) -> None:
    _emit("sign_out", identity=identity, via=via)


def sign_in_refused(via: str, reason: str) -> None:
    _emit("sign_in_refused", via=via, reason=reason)


def refused(identity: str, via: str, action: str, needed: str) -> None:
    _emit("refused", identity=identity, via=via, action=action, needed=needed)
