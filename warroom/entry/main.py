"""The `warroom` console script: the CLI face's commands plus those that start things — the
embedded stack (`dev`), a worker, the HTTP API and console (`serve`), the demo — and the
rehearsal runner's `rehearse`. Leaves with the exit code the command meant."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from warroom.cli.errors import debugging, unexpected_line
from warroom.cli.main import app, run
from warroom.contract.client import task_queue
from warroom.entry import serve as entry_serve
from warroom.rehearsal.command import rehearse

app.command()(rehearse)
app.command()(entry_serve.serve)


@app.command()
def dev(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the dev server keeps incidents.")
    ] = Path(".warroom"),
    port: Annotated[int, typer.Option("--port", help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[
        int | None, typer.Option("--ui-port", help="Temporal UI port (default: port+1000).")
    ] = None,
    api_port: Annotated[
        int, typer.Option("--api-port", help="HTTP API port.")
    ] = entry_serve.DEFAULT_PORT,
    retention: Annotated[
        str,
        typer.Option(
            "--retention",
            help="How long Temporal keeps a closed incident's history (30d, 12h); "
            "the archive keeps the record after.",
        ),
    ] = "30d",
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt",
            help="Encrypt payloads (keys: $WARROOM_CODEC_KEYS or DATA_DIR/codec-keys, made "
            "if missing); the Temporal UI decodes through the API's codec server.",
        ),
    ] = False,
) -> None:
    """Run the embedded stack: Temporal dev server + worker + HTTP API, until Ctrl-C."""
    from warroom.entry.devstack import DevServer, dev_stack
    from warroom.entry.devstack import encrypt as encrypted
    from warroom.entry.stopping import stop_signal
    from warroom.language.durations import format_duration, parse_duration

    server = DevServer(data_dir, port=port, ui_port=ui_port)
    try:  # Temporal Cloud allows 90 days; a self-hosted cluster more
        kept = parse_duration(retention, limit=timedelta(days=3650))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--retention") from exc
    os.environ.setdefault("WARROOM_TEMPORAL_UI", server.ui_url)  # the console links to it
    if encrypt:
        keys = encrypted(server, f"http://127.0.0.1:{api_port}")
        typer.echo(f"encryption:   payloads encrypted with key {keys.current} of {keys.source}")
        typer.echo(f"other shells: export WARROOM_CODEC_KEYS={keys.source}")

    async def go() -> None:
        stop = stop_signal()  # before "ready.", so a stop sent in reply is never lost
        async with dev_stack(server, api_port=api_port, say=typer.echo, retention=kept):
            typer.echo(f"Temporal UI:  {server.ui_url}")
            typer.echo(f"worker:       polling task queue {task_queue()!r}")
            archive = os.environ.get("WARROOM_ARCHIVE_URL", "")
            typer.echo(f"archive:      {archive} (closed incidents; other shells: export it)")
            typer.echo(
                f"retention:    {format_duration(kept)} (then Temporal deletes a closed "
                "incident's history; the archive keeps its record)"
            )
            if server.address != "127.0.0.1:7233":
                typer.echo(f"other shells: export TEMPORAL_ADDRESS={server.address}")
            typer.echo("ready. Ctrl-C stops the server, the worker and the API.")
            await stop
            typer.echo("stopping …")

    run(go)


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS (for a server you run yourself)."""
    from worker import GRACEFUL_SHUTDOWN, run_worker

    grace = GRACEFUL_SHUTDOWN.total_seconds()

    def stopping(signal: str) -> None:
        typer.echo(f"worker: {signal}: stopping; running activities get {grace:.0f}s to finish")

    typer.echo(f"worker: polling task queue {task_queue()!r}; Ctrl-C or SIGTERM stops it")
    run(lambda: run_worker(on_stop=stopping))
    typer.echo("worker: stopped")


@app.command()
def demo(
    alertmanager: Annotated[
        bool,
        typer.Option(
            "--alertmanager", help="Drive a real Prometheus and Alertmanager (Debian packages)."
        ),
    ] = False,
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt", help="Encrypt payloads; the Temporal UI decodes through the codec server."
        ),
    ] = False,
    slack: Annotated[
        bool,
        typer.Option(
            "--slack", help="With the incident's room in a fake Slack (approve by click)."
        ),
    ] = False,
) -> None:
    """The main job end to end on a throwaway dev server (what `make demo` runs)."""
    from warroom.entry.demo import run_demo

    raise typer.Exit(run(lambda: run_demo(alertmanager=alertmanager, encrypt=encrypt, slack=slack)))


def main() -> None:
    """Entry point: always leave with the exit code the command meant.

    Short-lived Temporal client processes can abort during interpreter teardown
    (temporalio/sdk-python#300), so flush and `os._exit` instead of returning.
    An error nobody expected is still one line (with its type), unless WARROOM_DEBUG is set.
    """
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException as exc:
        if debugging():
            traceback.print_exc()
        with contextlib.suppress(Exception):
            sys.stderr.write(unexpected_line(exc) + "\n")
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
