"""`/v1/incidents`: list, show, timeline, declare, and the human decisions of the CLI, through
the same application code (`warroom.incidents`: views, declare, decisions). With tokens, the
actor of every decision is the caller's identity; a body naming someone else is refused."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, create_model
from temporalio.client import Client

import warroom.record.timeline
from warroom.access.tokens import Tokens
from warroom.api.auth import caller
from warroom.api.errors import responses
from warroom.contract.models import HumanDecision, IncidentState, PersonName, StepState
from warroom.contract.names import INCIDENT_ID
from warroom.incidents import archived, decisions, views
from warroom.incidents.declare import Declaration, Declared, catalogue_entry, declare_entry
from warroom.language.catalogue import Catalogue
from warroom.language.durations import parse_duration

router = APIRouter(
    prefix="/v1/incidents",
    tags=["incidents"],
    dependencies=[Depends(caller)],
    responses=responses(401, 403, 404, 409, 422, 503),
)

IncidentId = Annotated[str, Path(pattern=f"^{INCIDENT_ID.pattern}$", description="inc-...")]
Caller = Annotated[str | None, Depends(caller)]


def temporal_of(request: Request) -> Callable[[], Awaitable[Client]]:
    """The client, connected when a handler first needs it (after the request validated)."""
    temporal: Callable[[], Awaitable[Client]] = request.app.state.temporal
    return temporal


Temporal = Annotated[Callable[[], Awaitable[Client]], Depends(temporal_of)]


#: `warroom show --json`: the state plus `pending_approvals` (which steps wait for approval).
SHOWN: dict[int | str, dict[str, Any]] = {
    200: {"model": IncidentState, "description": "The state, plus `pending_approvals`."}
}


def texts(value: Any) -> list[str]:
    """Every string in a request body (nested too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*texts(k), *texts(v))]
    if isinstance(value, list | tuple):
        return [t for v in value for t in texts(v)]
    return []


def no_token_in(request: Request, body: BaseModel) -> None:
    """A body that holds an API token (as a name, in a note) is refused: a token never
    becomes a name, nor enters an incident's history."""
    tokens: Tokens = request.app.state.tokens
    if tokens.found_in(*texts(body.model_dump())):
        raise HTTPException(422, "an API token is never a name or text here: nothing was sent")


def actor(identity: str | None, by: str | None) -> str:
    """Who acts: the token's identity (a body naming someone else is refused); without
    tokens, the body's `by`."""
    if identity is not None:
        if by is not None and by != identity:
            raise HTTPException(
                403, f"you are authenticated as {identity!r}: you cannot act as {by!r}"
            )
        return identity
    if by is None:
        raise HTTPException(422, "by: say who acts (the API runs without tokens)")
    return by


@router.get("", summary="Incidents: open ones first (newest first), then closed ones")
async def list_incidents(
    temporal: Temporal,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    runbook: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[views.IncidentSummary]:
    return await views.list_incidents(
        await temporal(),
        limit=limit,
        status=status,
        severity=severity,
        service=service,
        runbook=runbook,
    )


@router.get(
    "/search",  # before /{incident_id}, which would take "search" for an id and refuse it
    summary="Find incidents: archived ones by full text, open ones by title (`warroom search`)",
)
async def search(
    temporal: Temporal,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words to find.")],
    service: str | None = None,
    runbook: str | None = None,
    since: Annotated[
        str | None, Query(description="Only incidents declared this recently: 90d.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[views.IncidentSummary]:
    try:
        window = parse_duration(since) if since is not None else None
    except ValueError as exc:
        raise HTTPException(422, f"since: {since!r} is not a duration like 90d or 12h") from exc
    return await archived.search(
        await temporal(), q, service=service, runbook=runbook, since=window, limit=limit
    )


@router.get("/{incident_id}", summary="One incident's state", response_model=None, responses=SHOWN)
async def show(incident_id: IncidentId, temporal: Temporal) -> dict[str, Any]:
    """What `warroom show --json` prints: the state, `pending_approvals` and the metrics."""
    return (await views.show(await temporal(), incident_id)).json()


@router.get(
    "/{incident_id}/timeline",
    summary="The incident's audited timeline",
    response_model=None,
    responses={200: {"model": list[warroom.record.timeline.TimelineEntry]}},
)
async def timeline(incident_id: IncidentId, temporal: Temporal) -> list[dict[str, Any]]:
    client = await temporal()
    return [
        e.model_dump(mode="json")
        for e in await warroom.record.timeline.timeline(client, incident_id)
    ]


class DeclareRequest(Declaration):
    runbook: str = Field(description="A runbook name from GET /v1/runbooks.")
    by: PersonName | None = None


@router.post("", status_code=201, summary="Declare an incident (`warroom declare`)")
async def declare(
    body: DeclareRequest, request: Request, temporal: Temporal, identity: Caller
) -> Declared:
    catalogue: Catalogue = request.app.state.catalogue
    no_token_in(request, body)
    entry = catalogue_entry(catalogue, body.runbook)
    who = actor(identity, body.by)
    return await declare_entry(await temporal(), entry, body, who)


# ---- human decisions: one route per decision, its body as in the CLI ------------------------


class _By(BaseModel):
    by: PersonName | None = Field(
        None, description="Who decides; with tokens, the caller's identity (or left out)."
    )


@functools.cache
def request_body(model: type[HumanDecision]) -> type[_By]:
    """The request body of a decision: its model's fields, `by` optional (the token says who),
    no `deadline` (the sender sets it)."""
    fields: dict[str, Any] = {
        name: (field.annotation, field)
        for name, field in model.model_fields.items()
        if name not in HumanDecision.model_fields
    }
    body: type[_By] = create_model(f"{model.__name__}Request", __base__=_By, **fields)
    return body


def _decision_route(word: str) -> None:
    kind, model = decisions.WORDS[word]
    body_type = request_body(model)

    async def decide(
        incident_id: IncidentId, body: Any, request: Request, temporal: Temporal, identity: Caller
    ) -> dict[str, Any]:
        no_token_in(request, body)
        who = actor(identity, body.by)
        decision = model(**body.model_dump(exclude={"by"}), by=who)
        answer = await decisions.send(await temporal(), incident_id, kind, decision)
        if isinstance(answer, IncidentState):
            return views.state_json(answer)
        return answer.model_dump(mode="json")

    # FastAPI reads the body's model from the signature: give each route its own.
    signature = inspect.signature(decide)
    params = [
        p.replace(annotation=body_type) if p.name == "body" else p
        for p in signature.parameters.values()
    ]
    decide.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    router.add_api_route(
        f"/{{incident_id}}/{word}",
        decide,
        methods=["POST"],
        summary=f"{word} (`warroom {word}`); 409 with the reason when refused",
        response_model=None,
        responses={200: {"model": StepState | IncidentState}},
        name=f"decide_{word}",
    )


for _word in decisions.WORDS:
    _decision_route(_word)
