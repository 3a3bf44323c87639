"""An IncidentWorkflow with a bug: its workflow task raises a plain exception on every
attempt, which is how the server sees a stalled incident (a bug, a payload over the limit).
Registered under the real workflow type name so that real incidents run on it."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

BUG = "bug: list index out of range"


@workflow.defn(name="IncidentWorkflow", sandboxed=False)
class BuggyIncidentWorkflow:
    @workflow.run
    async def run(self, inp: Any) -> None:
        raise RuntimeError(BUG)  # not an ApplicationError: fails the task, not the workflow


@workflow.defn(name="IncidentWorkflow", sandboxed=False)
class ContinuingIncidentWorkflow:
    """Continues as new once, then waits: how a long incident looks to the server."""

    @workflow.run
    async def run(self, inp: Any) -> None:
        if not inp.get("carried"):
            workflow.continue_as_new({**inp, "carried": True})
        await workflow.wait_condition(lambda: False)
