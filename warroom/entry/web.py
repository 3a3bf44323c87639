"""The web process: the HTTP API with the web console mounted on it (one app, one port)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from warroom import console
from warroom.api.app import create_app


def web_app(*args: Any, **kwargs: Any) -> FastAPI:
    """`create_app`'s API with the console at /console (same arguments); the console's
    forms are its only bodies that are not JSON."""
    return create_app(*args, mount=console.mount, forms_under=console.FORMS_UNDER, **kwargs)
