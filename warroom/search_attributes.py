"""The custom search attributes of an incident (all Keyword), kept current by the workflow."""

from temporalio.common import SearchAttributeKey

SEVERITY = SearchAttributeKey.for_keyword("IncidentSeverity")
SERVICE = SearchAttributeKey.for_keyword("IncidentService")
STATUS = SearchAttributeKey.for_keyword("IncidentStatus")
PHASE = SearchAttributeKey.for_keyword("IncidentPhase")
RUNBOOK = SearchAttributeKey.for_keyword("IncidentRunbook")

ALL = (SEVERITY, SERVICE, STATUS, PHASE, RUNBOOK)
NAMES = tuple(key.name for key in ALL)
