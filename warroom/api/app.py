"""The warroom HTTP API: `create_app` wires the routes (one module per resource), auth, the
same-origin rules, the body size limit and read deadline, metrics and the one error shape
(`{"error": "..."}`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from warroom.access import audit
from warroom.access.roles import RoleRequired
from warroom.access.tokens import Tokens
from warroom.api import alerts, codec, health, incidents, oncall, runbooks
from warroom.api.limits import DEFAULT_MAX_BODY, READ_TIMEOUT, BodyLimit
from warroom.api.metrics import Measured, Metrics
from warroom.api.same_origin import SameOrigin, Served
from warroom.contract import invalid_input
from warroom.contract.client import connect
from warroom.contract.codec import EncryptionCodec, Keys
from warroom.errors import (
    DecisionRefused,
    IncidentNotFound,
    ParamsError,
    RunbookError,
    ServerUnreachable,
    WarroomError,
)
from warroom.incidents import decisions
from warroom.incidents.declare import UnknownRunbook
from warroom.incidents.execution import NoWorker
from warroom.incidents.limits import InputTooLarge
from warroom.intake.delivery import (
    DEFAULT_CONCURRENCY,
    DELIVERY_TIMEOUT,
    REMEMBER_FOR,
    Busy,
    Intake,
)
from warroom.language.catalogue import Catalogue
from warroom.oncall import schedules
from warroom.record.archived import ArchiveUnavailable

#: Where the docs pages' scripts and styles are served from.
DOCS_STATIC = "/docs/static"

#: gRPC statuses that mean "Temporal is not there right now": 503, retry later.
UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
}


class Temporal:
    """The API's Temporal client: connected on first use (the API starts while Temporal is
    down, and says 503 until it is up), then reused (it reconnects by itself)."""

    def __init__(self, client: Client | None = None, address: str | None = None) -> None:
        self._client, self._address = client, address
        self._lock = asyncio.Lock()

    async def __call__(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self._address)
        return self._client


def create_app(
    catalogue: Catalogue,
    temporal: Callable[[], Awaitable[Client]],
    *,
    tokens: Tokens | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    read_timeout: float = READ_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    remember_for: float = REMEMBER_FOR,
    served: Served | None = None,
    forms_under: tuple[str, ...] = (),
    mount: Callable[[FastAPI], None] | None = None,
    codec_keys: Keys | None = None,
    codec_origins: frozenset[str] = frozenset(),
) -> FastAPI:
    """The API app; `mount` adds another face to it (the entry point passes the web console's),
    inside the API's same-origin rules, body limit and latency measurement. `served`: the names
    the server answers to (default: loopback); `forms_under`: path prefixes that take HTML
    forms instead of JSON (the console's); `codec_keys`: the codec server's (`/codec`, for the
    Temporal UI at `codec_origins`; without keys it answers 404)."""
    # /docs and /redoc load Swagger UI and ReDoc from the package (/docs/static), never from a
    # CDN, so they work offline; Swagger UI's validator badge (an external call) is off.
    app = FastAPIOffline(
        title="warroom",
        summary="Alerts open and feed incidents; people decide through the same API as the CLI.",
        version="1",
        static_url=DOCS_STATIC,
        swagger_ui_parameters={"validatorUrl": None},
    )
    metrics = Metrics()
    app.state.metrics = metrics
    audit.listen(lambda event, via: metrics.access.labels(event, via).inc())
    app.state.tokens = tokens or Tokens({})
    app.state.catalogue = catalogue
    app.state.codec = EncryptionCodec(codec_keys) if codec_keys is not None else None
    app.state.temporal = temporal
    app.state.intake = Intake(
        temporal,
        catalogue,
        concurrency=concurrency,
        remember_for=remember_for,
        on_collapsed=metrics.duplicates_collapsed.inc,
    )
    for module in (alerts, incidents, oncall, runbooks, health, codec):
        app.include_router(module.router)
    _errors(app)
    if mount is not None:
        mount(app)
    app.add_middleware(Measured, latency=metrics.latency)
    app.add_middleware(BodyLimit, max_bytes=max_body, read_timeout=read_timeout)
    app.add_middleware(
        SameOrigin,
        served=served,
        forms_under=forms_under,
        cross_origin={codec.PREFIX + "/": codec_origins},
    )
    app.add_middleware(codec.CodecCors, origins=codec_origins)
    return app


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def invalid(errors: Iterable[Mapping[str, Any]]) -> JSONResponse:
    """400 for a body that is not JSON, else 422, with pydantic's errors in one line."""
    errors = list(errors)
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        reason = bad_json.get("ctx", {}).get("error", "malformed")
        return error(400, f"the body is not valid JSON ({reason})")
    # FastAPI puts "body" before a body field's name: people name the field alone.
    fields = [{**e, "loc": [p for p in e.get("loc", ()) if p != "body"]} for e in errors]
    return error(422, invalid_input.one_line(fields))


def _errors(app: FastAPI) -> None:
    metrics: Metrics = app.state.metrics

    def unavailable(message: str) -> JSONResponse:
        metrics.temporal_errors.inc()
        return error(503, message, {"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid(exc.errors())

    @app.exception_handler(ValidationError)
    async def invalid_value(_: Request, exc: ValidationError) -> JSONResponse:
        return invalid(exc.errors())

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words for a body that is not UTF-8 or nests beyond the parser's depth.
            return error(400, "the body is not valid JSON (not UTF-8, or nested too deeply)")
        return error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(WarroomError)
    async def warroom_error(_: Request, exc: WarroomError) -> JSONResponse:
        if isinstance(exc, IncidentNotFound | schedules.ScheduleNotFound):
            return error(404, str(exc))
        if isinstance(exc, schedules.OverrideRefused):
            return error(409, str(exc))
        if isinstance(exc, DecisionRefused):
            return error(409, str(exc))
        if isinstance(exc, RoleRequired):
            return error(403, str(exc))
        if isinstance(exc, decisions.AppliedUnconfirmed):
            return JSONResponse({"applied": True, "confirmed": False, "message": str(exc)}, 202)
        if isinstance(exc, ServerUnreachable | Busy | ArchiveUnavailable):
            return unavailable(str(exc))
        if isinstance(exc, NoWorker | schedules.NoWorker | decisions.NotApplied):
            return error(503, str(exc), {"Retry-After": "5"})
        if isinstance(exc, ParamsError | RunbookError | InputTooLarge | UnknownRunbook):
            return error(422, str(exc))
        return error(500, f"{type(exc).__name__}: {exc}")

    @app.exception_handler(RPCError)
    async def temporal_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status in UNAVAILABLE:
            return unavailable(f"Temporal is unreachable: {exc.message}; retry later")
        metrics.temporal_errors.inc()
        return error(502, f"Temporal refused: {exc.message}")

    @app.exception_handler(TimeoutError)
    async def timed_out(_: Request, exc: TimeoutError) -> JSONResponse:
        return unavailable(f"Temporal did not answer within {DELIVERY_TIMEOUT:.0f}s; retry later")
