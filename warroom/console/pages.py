"""The console's pages and forms: incidents, one incident, runbooks, postmortem, sign-in.

Forms post plain HTML forms and are answered with a redirect (or, when refused, the page
again with the reason); they call the application (`warroom.incidents`: views, declare,
decisions) as the API does, and a refused decision's page reuses the look its request took.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from temporalio.client import Client
from temporalio.service import RPCError

from warroom.access.tokens import Tokens
from warroom.console import render, session
from warroom.contract.invalid_input import one_line
from warroom.contract.models import HumanDecision
from warroom.contract.names import INCIDENT_ID
from warroom.errors import DecisionRefused, IncidentNotFound, WarroomError
from warroom.incidents import archived, decisions, execution, views
from warroom.incidents.declare import (
    Declaration,
    approvers_of,
    catalogue_entry,
    declare_entry,
)
from warroom.language.catalogue import Catalogue
from warroom.language.runbook import Runbook
from warroom.record.postmortem import postmortem
from warroom.record.timeline import story


class ConsoleRoute(APIRoute):
    """A console route: what goes wrong is said on a page, in one line, not as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handled(request: Request) -> Response:
            try:
                return await handle(request)
            except IncidentNotFound as exc:
                return render.page(request, "base.html", 404, error=str(exc))
            except WarroomError as exc:
                return render.page(request, "base.html", 503, error=f"{exc}; retry later")
            except (RPCError, TimeoutError) as exc:
                problem = f"Temporal did not answer ({exc or type(exc).__name__}); retry later"
                return render.page(request, "base.html", 503, error=problem)

        return handled


router = APIRouter(prefix=session.PREFIX, include_in_schema=False, route_class=ConsoleRoute)
Who = Annotated[str, Depends(session.who)]
IncidentId = Annotated[str, Path(pattern=f"^{INCIDENT_ID.pattern}$")]
#: The filters of the incidents page, as the API's list takes them; `q` searches (`warroom
#: search`), `archived` lists the archive (`warroom list --archived`).
FILTERS = ("status", "severity", "service", "q", "archived")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
ROLES = ("commander", "comms", "ops")
TOKEN_IN_TEXT = "an API token is never a name or text here: nothing was sent"


async def client_of(request: Request) -> Client:
    temporal: Callable[[], Awaitable[Client]] = request.app.state.temporal
    return await temporal()


def filters_of(request: Request) -> dict[str, str]:
    return {k: v for k in FILTERS if (v := request.query_params.get(k, "").strip())}


async def listed(request: Request) -> list[views.IncidentSummary]:
    """The incidents the filters select, as `GET /v1/incidents` lists them."""
    wanted = filters_of(request)
    status, severity, service = (wanted.get(k) for k in FILTERS[:3])
    if "q" in wanted:
        found = await archived.search(
            await client_of(request), wanted["q"], service=service, limit=100
        )
        return [f for f in found if status in (None, f.status) and severity in (None, f.severity)]
    if "archived" in wanted:
        return await archived.archived_list(
            limit=100, status=status, severity=severity, service=service
        )
    return await views.list_incidents(
        await client_of(request), limit=100, status=status, severity=severity, service=service
    )


# ---- sign in ---------------------------------------------------------------------------------


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = f"{session.PREFIX}/") -> HTMLResponse:
    tokens: Tokens = request.app.state.tokens
    return render.page(request, "sign_in.html", tokens=bool(tokens), next=next)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    tokens: Tokens = request.app.state.tokens
    fields = await session.form(request, ("token" if tokens else "name", "next"))
    value = fields.get("token" if tokens else "name", "").strip()
    if tokens:
        person = tokens.identity(value)
    else:
        person = value if session.valid_name(request, value) else None
    target = fields.get("next", "")
    if not target.startswith(f"{session.PREFIX}/") or target.startswith("//"):
        target = f"{session.PREFIX}/"
    if person is None:
        problem = "that token is not valid" if tokens else "give a name (1 to 64 characters)"
        return render.page(
            request, "sign_in.html", 401, tokens=bool(tokens), next=target, error=problem
        )
    response = RedirectResponse(target, 303)
    session.start(request, response, person)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await session.form(request)
    response = RedirectResponse(f"{session.PREFIX}/sign-in", 303)
    session.end(request, response)
    return response


# ---- incidents -------------------------------------------------------------------------------


@router.get("/")
async def incidents_page(request: Request, me: Who) -> HTMLResponse:
    found = await listed(request)
    return render.page(
        request,
        "incidents.html",
        incidents=found,
        filters=filters_of(request),
        query=request.url.query,
        severities=SEVERITIES,
    )


def done_of(request: Request) -> str | None:
    """What the last form did (`?done=approve rollback`): a decision's kind, and a step."""
    kind, _, step = request.query_params.get("done", "").partition(" ")
    return f"{kind} {step}".strip() if kind in decisions.UPDATES and len(step) <= 200 else None


async def incident_context(
    request: Request, incident_id: str, run: execution.Run | None = None
) -> dict[str, Any]:
    """What the incident page shows; `run`: the incident's run as this request looked at it."""
    client = await client_of(request)
    shown = await views.show(client, incident_id, run=run)
    return {
        "state": shown.state,
        "entries": shown.story.entries,
        "due": render.next_update_due(shown),
        "temporal_ui": render.temporal_ui(client.namespace, incident_id),
        "severities": SEVERITIES,
        "roles": ROLES,
    }


def state_fragment(request: Request, context: dict[str, Any]) -> str:
    return render.fragment(request, "_state.html", **context)


@router.get("/incidents/{incident_id}")
async def incident_page(request: Request, incident_id: IncidentId, me: Who) -> HTMLResponse:
    context = await incident_context(request, incident_id)
    return render.page(
        request,
        "incident.html",
        done=done_of(request),
        **context,
    )


@router.post("/incidents/{incident_id}/{word}")
async def decide(request: Request, incident_id: IncidentId, word: str, me: Who) -> Response:
    """One human decision, as `POST /v1/incidents/{id}/{word}` takes it, made by `me`."""
    if word not in decisions.WORDS:
        raise HTTPException(404, f"no decision {word!r}")
    kind, model = decisions.WORDS[word]
    # What the person fills in: never `by` (the session says who) nor `deadline` (set here).
    wanted = await session.form(request, model.model_fields.keys() - HumanDecision.model_fields)
    tokens: Tokens = request.app.state.tokens
    if tokens.found_in(*wanted.values()):
        return await _refused(request, incident_id, 422, TOKEN_IN_TEXT)
    try:
        decision = model(**wanted, by=me)
    except ValidationError as exc:
        return await _refused(request, incident_id, 422, one_line(exc.errors()))
    client = await client_of(request)
    run = await execution.look(client, incident_id)
    try:
        await decisions.send(client, incident_id, kind, decision, run=run)
    except DecisionRefused as exc:
        return await _refused(request, incident_id, 409, f"refused: {exc}", run)
    except decisions.AppliedUnconfirmed as exc:
        # Applied: the incident moved on since the look, so the page looks again.
        return await _refused(request, incident_id, 202, str(exc))
    except (decisions.NotApplied, execution.NoWorker) as exc:
        return await _refused(request, incident_id, 503, str(exc), run)
    done = f"{kind} {wanted.get('step', '')}".strip()
    return RedirectResponse(f"{session.PREFIX}/incidents/{incident_id}?done={quote(done)}", 303)


async def _refused(
    request: Request,
    incident_id: str,
    status: int,
    reason: str,
    run: execution.Run | None = None,
) -> HTMLResponse:
    """The incident page again, saying why nothing (or not yet everything) happened."""
    context = await incident_context(request, incident_id, run)
    return render.page(
        request,
        "incident.html",
        status,
        error=reason,
        **context,
    )


# ---- runbooks and declare --------------------------------------------------------------------


def _runbooks(request: Request) -> list[dict[str, Any]]:
    catalogue: Catalogue = request.app.state.catalogue
    shown = []
    for name, entry in sorted(catalogue.entries.items()):
        rb: Runbook = entry.runbook
        shown.append(
            {
                "rb": rb,
                "fallback": name == catalogue.fallback,
                "approvers": approvers_of(rb, entry.teams),
                "phases": {
                    phase: [s for s in rb.steps if s.phase == phase]
                    for phase in dict.fromkeys(s.phase for s in rb.steps)
                },
            }
        )
    return shown


@router.get("/runbooks")
async def runbooks_page(request: Request, me: Who) -> HTMLResponse:
    return render.page(request, "runbooks.html", runbooks=_runbooks(request), severities=SEVERITIES)


@router.post("/declare")
async def declare(request: Request, me: Who) -> Response:
    """Declare as `POST /v1/incidents` does, with the form's params (empty ones left out)."""
    fields = await session.form(request, ("runbook", "summary", "severity"), ("param.",))
    tokens: Tokens = request.app.state.tokens
    if tokens.found_in(*fields.values()):
        return _declare_refused(request, 422, TOKEN_IN_TEXT, fields)
    params = {
        k.removeprefix("param."): v for k, v in fields.items() if k.startswith("param.") and v
    }
    try:
        declaration = Declaration(
            runbook=fields.get("runbook", ""),
            summary=fields.get("summary", ""),
            severity=fields.get("severity") or None,
            params=params,
        )
        entry = catalogue_entry(request.app.state.catalogue, declaration.runbook)
        declared = await declare_entry(await client_of(request), entry, declaration, me)
    except ValidationError as exc:
        return _declare_refused(request, 422, one_line(exc.errors()), fields)
    except WarroomError as exc:
        return _declare_refused(request, 422, str(exc), fields)
    return RedirectResponse(f"{session.PREFIX}/incidents/{declared.incident_id}", 303)


def _declare_refused(
    request: Request, status: int, problem: str, fields: dict[str, str]
) -> HTMLResponse:
    return render.page(
        request,
        "runbooks.html",
        status,
        runbooks=_runbooks(request),
        severities=SEVERITIES,
        error=f"not declared ({fields.get('runbook', '?')}): {problem}",
    )


# ---- postmortem ------------------------------------------------------------------------------


async def _draft(request: Request, incident_id: str) -> tuple[str, bool]:
    told = await story(await client_of(request), incident_id)
    closed = any(e.event.startswith(("closed", "terminated")) for e in told.entries)
    return postmortem(told), closed


@router.get("/incidents/{incident_id}/postmortem")
async def postmortem_page(request: Request, incident_id: IncidentId, me: Who) -> HTMLResponse:
    draft, closed = await _draft(request, incident_id)
    return render.page(
        request,
        "postmortem.html",
        incident_id=incident_id,
        closed=closed,
        html=render.markdown(draft),
    )


@router.get("/incidents/{incident_id}/postmortem.md")
async def postmortem_markdown(request: Request, incident_id: IncidentId, me: Who) -> Response:
    draft, _ = await _draft(request, incident_id)
    return PlainTextResponse(
        draft,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="postmortem-{incident_id}.md"'},
    )


async def form_rejected(request: Request, exc: session.FormRejected) -> HTMLResponse:
    """A form without its CSRF token: nothing done, and the page says so."""
    return render.page(request, "base.html", 403, error=str(exc))


async def form_invalid(request: Request, exc: session.FormInvalid) -> HTMLResponse:
    """A form with fields its page never sends: nothing done, one line saying which."""
    return render.page(request, "base.html", 400, error=f"{exc}: nothing was done")
