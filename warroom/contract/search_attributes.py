"""The custom search attributes of an incident (all Keyword), kept current by the workflow."""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

SEVERITY = SearchAttributeKey.for_keyword("IncidentSeverity")
SERVICE = SearchAttributeKey.for_keyword("IncidentService")
STATUS = SearchAttributeKey.for_keyword("IncidentStatus")
PHASE = SearchAttributeKey.for_keyword("IncidentPhase")
RUNBOOK = SearchAttributeKey.for_keyword("IncidentRunbook")
#: Set once someone is commander (incidents started before it existed never set it).
COMMANDER = SearchAttributeKey.for_keyword("IncidentCommander")

ALL = (SEVERITY, SERVICE, STATUS, PHASE, RUNBOOK, COMMANDER)
NAMES = tuple(key.name for key in ALL)


async def register(client: Client) -> None:
    """Add them to a server that does not know them (the time-skipping test server; the dev
    server gets them at start)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in NAMES},
        )
    )
