"""The console's templates (autoescaped: alerts, runbooks and people are data, never markup)
and the few things they show that the state does not say directly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from warroom.console import session
from warroom.console.session import csrf_token, identity, may_act
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
        me=identity(request), csrf=csrf_token(request), may_act=may_act(request), **context
    )
    return HTMLResponse(html, status_code=status)


def fragment(request: Request, template: str, **context: Any) -> str:
    """A part of a page (for the live updates): the same template the page includes."""
    return env.get_template(template).render(
        csrf=csrf_token(request), may_act=may_act(request), **context
    )


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


def linkable(href: str) -> bool:
    """Whether the console links to `href`: its own pages, and the Temporal UI it knows."""
    ui = os.environ.get(TEMPORAL_UI_ENV)
    if ui and href.startswith(ui.rstrip("/") + "/"):
        return True
    url = urlsplit(href)
    own = not url.scheme and not url.netloc and url.path.startswith(f"{session.PREFIX}/")
    return own and ".." not in url.path.split("/")


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _unlinked(tokens: list[Token]) -> Iterator[Token]:
    """Inline tokens with every link elsewhere as its text and target, and every image as its
    description and address (none is fetched)."""
    kept: list[str | None] = []  # per open link: None when it stays a link, else its target
    for token in tokens:
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            if linkable(href):
                kept.append(None)
                yield token
            else:  # an autolink's text is its target already
                kept.append("" if token.markup == "autolink" else href)
        elif token.type == "link_close":
            target = kept.pop() if kept else None
            if target is None:
                yield token
            elif target:
                yield _text(f" ({target})")
        elif token.type == "image":
            src = str(token.attrGet("src") or "")
            yield _text(f"{token.content} ({src})" if token.content else src)
        else:
            yield token


def _own_links_only(state: StateCore) -> None:
    for block in state.tokens:
        if block.children:
            block.children = list(_unlinked(block.children))


_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
_markdown.core.ruler.push("own_links_only", _own_links_only)


def markdown(text: str) -> str:
    """Markdown as HTML for a draft that quotes people (notes, comments, summaries): raw HTML
    shows as text, a link goes only to the console's own pages or the Temporal UI (any other
    shows its text and target), and an image shows its description and address."""
    html: str = _markdown.render(text)
    return html
