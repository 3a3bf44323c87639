"""Sandboxed Jinja2 rendering of step parameters, with `secret.NAME` resolved from the worker's environment.

Only runbook text is ever a template. Incident and alert content reach templates as data
(variables), never as template source.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from warroom.errors import SecretMissing, TemplateError

SECRET_ENV_PREFIX = "WARROOM_SECRET_"

_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


class Secrets:
    """`{{ secret.NAME }}`: reads WARROOM_SECRET_<NAME> on first use and remembers what it handed out."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.used: list[str] = []

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._environ.get(SECRET_ENV_PREFIX + name)
        if value is None:
            raise SecretMissing(name)
        self.used.append(value)
        return value

    __getitem__ = __getattr__

    def scrub(self, text: str) -> str:
        """Replace every secret value handed out so far with ***."""
        for value in sorted(self.used, key=len, reverse=True):
            if value:
                text = text.replace(value, "***")
        return text


def render_value(value: Any, data: Mapping[str, Any]) -> Any:
    """Render every string inside `value` (dicts and lists walked) as a template over `data`."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        try:
            return _env.from_string(value).render(data)
        except SecretMissing:
            raise
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"template {value!r} failed: {exc} (templates see incident, steps and secret; "
                "steps['ID'] exists only once step ID has succeeded, not when skipped)"
            ) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {value!r} failed: {exc}") from exc
    if isinstance(value, dict):
        return {k: render_value(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, data) for v in value]
    return value


def check_template(text: str) -> str | None:
    """Return the syntax error of a template string, or None when it parses."""
    try:
        _env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    return None
