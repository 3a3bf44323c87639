"""`GET /v1/runbooks`: the runbooks alerts can open, and which one is the fallback."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from warroom.api.auth import caller
from warroom.api.errors import responses
from warroom.language.catalogue import Catalogue, specificity
from warroom.language.runbook import Severity

router = APIRouter(
    prefix="/v1/runbooks",
    tags=["runbooks"],
    dependencies=[Depends(caller)],
    responses=responses(401),
)


class RunbookSummary(BaseModel):
    name: str
    title: str
    service: str
    severity: Severity
    match: dict[str, str]
    #: (matchers, exact matchers): the larger wins when several runbooks match.
    specificity: tuple[int, int]
    on_alert_resolved: str
    fallback: bool


@router.get("", summary="Runbooks, with their match rules")
async def list_runbooks(request: Request) -> list[RunbookSummary]:
    catalogue: Catalogue = request.app.state.catalogue
    return [
        RunbookSummary(
            name=rb.name,
            title=rb.title,
            service=rb.service_name,
            severity=rb.severity,
            match=rb.match,
            specificity=specificity(rb),
            on_alert_resolved=rb.on_alert_resolved,
            fallback=name == catalogue.fallback,
        )
        for name, rb in sorted((n, e.runbook) for n, e in catalogue.entries.items())
    ]
