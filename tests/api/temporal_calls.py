"""Counting the Temporal calls a face makes: a client of its own (so the worker's calls are not
counted) whose service client's one call path is wrapped."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError


class TemporalCalls:
    """Every RPC the wrapped client sends, by name (`describe_workflow_execution`, ...)."""

    def __init__(self, client: Client) -> None:
        self.calls: Counter[str] = Counter()
        service = client.service_client
        send = service._rpc_call

        async def counted(rpc: str, req: Any, resp_type: Any, **kw: Any) -> Any:
            self.calls[rpc] += 1
            return await send(rpc, req, resp_type, **kw)

        service._rpc_call = counted  # type: ignore[method-assign]

    def take(self) -> dict[str, int]:
        """The calls since the last take."""
        taken = dict(self.calls)
        self.calls.clear()
        return taken


async def counted_client(like: Client) -> tuple[Client, TemporalCalls]:
    """A fresh connection to the server `like` talks to, and its counter."""
    client = await Client.connect(
        like.service_client.config.target_host,
        namespace=like.namespace,
        data_converter=like.data_converter,  # the suite's keys, when it encrypts
    )
    return client, TemporalCalls(client)


#: What one decision costs: one look at the run, one look for a polling worker, the update.
DECISION = {
    "describe_workflow_execution": 1,
    "describe_task_queue": 1,
    "update_workflow_execution": 1,
}
#: What the incident page costs: the look, the worker check, the status query, and one read
#: of the history (for the timeline, the metrics and a running step's live attempts at once).
INCIDENT_PAGE = {
    "describe_workflow_execution": 1,
    "describe_task_queue": 1,
    "query_workflow": 1,
    "get_workflow_execution_history": 1,
}


async def stop(client: Client, incident_id: str) -> None:
    """End the test's incident unless it ended by itself (an approved step may finish it)."""
    handle = client.get_workflow_handle(incident_id)
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        with contextlib.suppress(RPCError):  # it may end between the look and the terminate
            await handle.terminate(reason="test over")
