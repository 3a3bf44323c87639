"""The web process: the HTTP API with the web console mounted on it (one app, one port)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from warroom import console
from warroom.api.app import create_app
from warroom.chat import app as chat


def web_app(*args: Any, **kwargs: Any) -> FastAPI:
    """`create_app`'s API with the console at /console and Slack's request URLs under
    /v1/chat/slack (same arguments); the console's forms and Slack's are the only bodies
    that are not JSON."""

    def mount(app: FastAPI) -> None:
        console.mount(app)
        chat.mount(app)

    forms = (*console.FORMS_UNDER, chat.FORMS_UNDER)
    return create_app(*args, mount=mount, forms_under=forms, **kwargs)
