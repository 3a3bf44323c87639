"""The Temporal server's limits on what an incident sends it, checked before sending so that
a refusal names the limit (declare and the alert intake both check)."""

from __future__ import annotations

from temporalio.client import Client

from warroom.contract.models import IncidentInput
from warroom.errors import WarroomError

#: The server's longest workflow id (`limit.maxIDLength`, 1,000 by default).
MAX_ID_CHARS = 1000
#: The server's largest search attribute value (`limit.searchAttributeSizeLimit`: 2 KiB).
MAX_SEARCH_ATTRIBUTE_BYTES = 2048
#: The server refuses a payload over 2 MiB (`limit.blobSize.error`); the SDK warns at 512 KiB.
MAX_INPUT_BYTES = 2 * 1024 * 1024


class InputTooLarge(WarroomError):
    """Something to send is over a limit of the Temporal server."""


async def check_limits(client: Client, incident_id: str, inp: IncidentInput) -> None:
    """Refuse, naming the limit, what the server would refuse with a gRPC error (or, for a
    search attribute, by failing the workflow's task on every attempt)."""
    if len(incident_id) > MAX_ID_CHARS:
        raise InputTooLarge(
            f"incident id is {len(incident_id)} characters, over the server's limit of "
            f"{MAX_ID_CHARS}: use a shorter runbook name"
        )
    rb = inp.runbook
    for what, value in (("runbook name", rb.name), ("service", rb.service_name)):
        if len(value.encode()) > MAX_SEARCH_ATTRIBUTE_BYTES:
            raise InputTooLarge(
                f"{what} is {len(value.encode())} bytes, over the server's limit of "
                f"{MAX_SEARCH_ATTRIBUTE_BYTES} for a search attribute value"
            )
    (payload,) = await client.data_converter.encode([inp])
    if payload.ByteSize() > MAX_INPUT_BYTES:
        raise InputTooLarge(
            f"the incident's input (runbook and summary) is {payload.ByteSize():,} bytes, "
            f"over the server's limit of {MAX_INPUT_BYTES:,} bytes per payload"
        )
