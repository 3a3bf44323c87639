"""Declaring an incident: start its workflow on a runbook, with a fresh incident id, the
approvers of each gated step resolved to people, and its line in the Temporal UI."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from warroom.contract.client import task_queue
from warroom.contract.models import IncidentInput
from warroom.errors import WarroomError
from warroom.incidents.limits import check_limits
from warroom.language.catalogue import Catalogue, Entry
from warroom.language.params import coerce_params
from warroom.language.runbook import Runbook, Severity
from warroom.language.teams import Teams, resolve_approvers
from warroom.text import clip, escape
from workflows.incident import IncidentWorkflow

#: Random bits in an incident id: two declares of one runbook in the same second collide
#: with odds of about one in 2**40 (and a collision is retried anyway).
ID_RANDOM_BYTES = 5
#: How many fresh ids `declare` tries when one is taken.
ID_ATTEMPTS = 3
#: Longest incident summary on the incident's one line in the Temporal UI (the full summary
#: is in its details).
UI_SUMMARY_CHARS = 200


class IncidentExists(WarroomError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"incident id {incident_id!r} is taken: declare again")


class UnknownRunbook(WarroomError):
    def __init__(self, name: str, catalogue: Catalogue) -> None:
        known = ", ".join(sorted(catalogue.entries))
        super().__init__(f"runbook: no runbook named {name!r} (known: {known})")


class Declaration(BaseModel):
    """An incident to declare on a runbook of the catalogue, as a person asks for it."""

    runbook: str = Field(description="A runbook name of the catalogue.")
    summary: str
    severity: Severity | None = None
    params: dict[str, Any] = Field(default_factory=dict)


#: What a declare answers. (No docstring: pydantic would publish it in the JSON schema.)
class Declared(BaseModel):
    incident_id: str
    runbook: str
    task_queue: str


def new_incident_id(runbook: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"inc-{runbook}-{stamp}-{secrets.token_hex(ID_RANDOM_BYTES)}"


def catalogue_entry(catalogue: Catalogue, name: str) -> Entry:
    """The catalogue's runbook called `name` (UnknownRunbook lists the known ones)."""
    entry = catalogue.entries.get(name)
    if entry is None:
        raise UnknownRunbook(name, catalogue)
    return entry


async def declare_entry(
    client: Client, entry: Entry, declaration: Declaration, declared_by: str
) -> Declared:
    """Declare on a runbook of the catalogue (its `group:` approvers resolved with its teams)."""
    incident_id = await declare(
        client,
        entry.runbook,
        declaration.summary,
        severity=declaration.severity,
        declared_by=declared_by,
        params=declaration.params,
        teams=entry.teams,
    )
    return Declared(incident_id=incident_id, runbook=entry.runbook.name, task_queue=task_queue())


async def declare(
    client: Client,
    runbook: Runbook,
    summary: str,
    *,
    severity: Severity | None = None,
    declared_by: str = "unknown",
    incident_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    teams: Teams | None = None,
) -> str:
    """Start the incident workflow; returns the incident id.

    `params` are checked against the runbook's declared params (ParamsError lists every
    problem) and completed with their defaults. `group:` approvers are resolved to people
    with `teams` (RunbookError names an unknown group), so the workflow input says who may
    decide each gated step. Without an `incident_id`, a fresh random one; taken ones are
    retried with another.
    """
    inp = IncidentInput(
        runbook=runbook,
        summary=summary,
        severity=severity,
        declared_by=declared_by,
        params=coerce_params(runbook.params, params or {}),
        approvers=approvers_of(runbook, teams),
    )
    chosen = incident_id or ""
    for _ in range(1 if incident_id else ID_ATTEMPTS):
        chosen = incident_id or new_incident_id(runbook.name)
        await check_limits(client, chosen, inp)
        try:
            await client.start_workflow(
                IncidentWorkflow.run,
                inp,
                id=chosen,
                task_queue=task_queue(),
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # An incident id is never reused: a closed one stays as it is.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=ui_summary(inp),
                static_details=ui_details(inp),
            )
        except WorkflowAlreadyStartedError:
            continue  # taken (by a twin declared in the same second): try another
        return chosen
    raise IncidentExists(chosen)


def approvers_of(runbook: Runbook, teams: Teams | None) -> dict[str, list[str]]:
    """Who may decide each gated step: its approvers with every `group:NAME` replaced by the
    group's members (fixed at declare, so a later teams.yaml edit does not change a running
    incident)."""
    return {
        step.id: resolve_approvers(step.approval.approvers, teams or {})
        for step in runbook.steps
        if step.approval is not None
    }


def ui_summary(inp: IncidentInput) -> str:
    """The incident's one line in the Temporal UI: severity, title, summary, runbook."""
    rb = inp.runbook
    summary = clip(escape(inp.summary), UI_SUMMARY_CHARS)
    return f"{inp.severity or rb.severity} · {escape(rb.title)} — {summary} ({rb.name})"


def ui_details(inp: IncidentInput) -> str:
    """The incident's fixed details in the Temporal UI (Temporal markdown)."""
    rb = inp.runbook
    return "\n".join(
        [
            f"**severity** {inp.severity or rb.severity}",
            f"**title** {escape(rb.title)}",
            f"**summary** {escape(inp.summary)}",
            f"**runbook** {rb.name} (service {rb.service_name})",
            f"**declared by** {escape(inp.declared_by)}",
        ]
    )
