"""`warroom serve`: the HTTP API on its own, against TEMPORAL_ADDRESS (`warroom dev` also starts it)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import typer
from temporalio.client import Client

from warroom.api.limits import DEFAULT_MAX_BODY
from warroom.contract.codec import configured_keys
from warroom.errors import WarroomError
from warroom.language.catalogue import DEFAULT_FALLBACK, Catalogue

#: The API's port unless told otherwise (`warroom serve --port`, `warroom dev --api-port`).
DEFAULT_PORT = 8080
LOOPBACK = "127.0.0.1"

Host = Annotated[
    str | None,
    typer.Option(
        "--host", help=f"Address to listen on (default {LOOPBACK}; others need API tokens)."
    ),
]
Port = Annotated[int, typer.Option("--port", help="HTTP port of the API.")]
Fallback = Annotated[
    str, typer.Option("--fallback-runbook", help="Runbook for alerts no runbook matches.")
]
MaxBody = Annotated[
    int, typer.Option("--max-body", help="Largest request body in bytes (413 above).")
]


@contextlib.asynccontextmanager
async def api(
    say: Callable[[str], None],
    *,
    client: Client | None = None,
    host: str | None = None,
    port: int = DEFAULT_PORT,
    fallback: str = DEFAULT_FALLBACK,
    max_body: int = DEFAULT_MAX_BODY,
    catalogue: Catalogue | None = None,
) -> AsyncIterator[str]:
    """Load runbooks and tokens, serve the API until the block ends; yields its URL.

    Without tokens it listens on loopback only (and says so); asked for another address
    without tokens, it refuses to start. It answers to loopback names, `host`, and the URLs in
    $WARROOM_PUBLIC_URL (`warroom.api.same_origin`).
    """
    # Imported here: every other command starts faster without FastAPI and uvicorn.
    from warroom.access.tokens import TOKENS_ENV, load_tokens
    from warroom.api.app import Temporal
    from warroom.api.codec import cors_origins
    from warroom.api.same_origin import PUBLIC_URL_ENV, Served
    from warroom.api.server import is_loopback, running
    from warroom.entry.web import web_app

    tokens = load_tokens()
    if not tokens and host is not None and not is_loopback(host):
        raise WarroomError(
            f"refusing to listen on {host} without authentication: set {TOKENS_ENV} to a file "
            "of `token: identity` lines, or listen on 127.0.0.1"
        )
    served = Served.at(host or LOOPBACK, os.environ.get(PUBLIC_URL_ENV))
    catalogue = catalogue or Catalogue.load(fallback)
    keys = configured_keys()
    app = web_app(
        catalogue,
        Temporal(client),
        tokens=tokens,
        max_body=max_body,
        served=served,
        codec_keys=keys,
        codec_origins=cors_origins(),
    )
    async with running(app, host or LOOPBACK, port) as url:
        say(
            f"API:          {url} ({len(catalogue.entries)} runbooks, fallback {catalogue.fallback!r})"
        )
        say(f"console:      {url}/console/")
        if keys is not None:
            say(f"codec server: {url}/codec (payloads encrypted with key {keys.current})")
        if tokens:
            say("API auth:     bearer tokens from $" + TOKENS_ENV)
        else:
            say(f"API auth:     none (no ${TOKENS_ENV}): listening on loopback only")
        yield url


def serve(
    host: Host = None,
    port: Port = DEFAULT_PORT,
    fallback_runbook: Fallback = DEFAULT_FALLBACK,
    max_body: MaxBody = DEFAULT_MAX_BODY,
) -> None:
    """Run the HTTP API (alerts in, incidents and decisions) against TEMPORAL_ADDRESS."""
    import asyncio

    from warroom.entry.stopping import stop_signal

    async def go() -> None:
        stop = stop_signal()
        async with api(
            typer.echo, host=host, port=port, fallback=fallback_runbook, max_body=max_body
        ):
            typer.echo("ready. Ctrl-C stops the API.")
            await stop
            typer.echo("stopping …")

    asyncio.run(go())
