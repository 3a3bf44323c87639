"""Which incident a Slack channel is the room of (the workflow notes its channel in its memo,
`slack_channel`), for slash commands typed in the room."""

from __future__ import annotations

from temporalio.client import Client

QUERY = 'WorkflowType = "IncidentWorkflow" AND ExecutionStatus = "Running"'
#: Open incidents looked at for a channel (newest first).
LOOKED_AT = 500


class Rooms:
    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    async def incident_of(self, client: Client, channel: str) -> str | None:
        if channel in self._known:
            return self._known[channel]
        async for wf in client.list_workflows(QUERY, limit=LOOKED_AT):
            noted = await wf.memo_value("slack_channel", None)
            if isinstance(noted, str):
                self._known[noted] = wf.id
        return self._known.get(channel)
