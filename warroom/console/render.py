"""The console's templates (autoescaped: alerts, runbooks and people are data, never markup)
and the few things they show that the state does not say directly."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt

from warroom.console.session import csrf_token, identity
from warroom.incidents.views import Shown
from warroom.record.metrics import duration_text

#: Where `warroom dev` says its Temporal UI is (`warroom serve` reads it from the environment).
TEMPORAL_UI_ENV = "WARROOM_TEMPORAL_UI"

env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def since(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago, as people read it ("4m12s")."""
    if when is None:
        return "-"
    return duration_text(((now or datetime.now(UTC)) - when).total_seconds())


env.filters["since"] = since
env.filters["clock"] = lambda when: when.strftime("%H:%M:%S") if when else "-"
env.filters["duration"] = duration_text


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(template).render(
        me=identity(request), csrf=csrf_token(request), **context
    )
    return HTMLResponse(html, status_code=status)


def fragment(request: Request, template: str, **context: Any) -> str:
    """A part of a page (for the live updates): the same template the page includes."""
    return env.get_template(template).render(csrf=csrf_token(request), **context)


def next_update_due(shown: Shown) -> datetime | None:
    """When the next status update is due: the last update (or the declaration, or the last
    severity change) plus the current severity's cadence; None once closed or without one."""
    state, told = shown.state, shown.story
    cadence: dict[str, timedelta] = {str(k): v for k, v in told.declared.runbook.cadence.items()}
    if state.is_closed or state.severity not in cadence:
        return None
    changes = [e.time for e in told.entries if e.event == "severity changed"]
    sent = [u.at for u in shown.metrics.updates]
    return max([state.started_at, *changes, *sent]) + cadence[state.severity]


def temporal_ui(namespace: str, incident_id: str) -> str | None:
    ui = os.environ.get(TEMPORAL_UI_ENV)
    return f"{ui.rstrip('/')}/namespaces/{namespace}/workflows/{incident_id}" if ui else None


_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown(text: str) -> str:
    """Markdown as HTML, raw HTML in it shown as text."""
    html: str = _markdown.render(text)
    return html
