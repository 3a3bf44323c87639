"""The JSON Schema of runbooks, for editors (yaml-language-server): the models' own schema plus,
for each action kind, the parameters its `with` accepts (from `ACTION_PARAMS`)."""

from __future__ import annotations

from typing import Any

from warroom.language.actions import ACTION_PARAMS
from warroom.language.runbook import Runbook

SCHEMA_ID = "https://warroom.dev/schemas/runbook.json"

# A templated value is checked only after rendering, so the editor accepts one anywhere.
_TEMPLATE = {"type": "string", "pattern": r"\{\{|\{%", "description": "A Jinja2 template."}


def runbook_json_schema() -> dict[str, Any]:
    """The schema: every field with its description; `with` checked per action kind."""
    schema = Runbook.model_json_schema(by_alias=True)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    branches = []
    for kind, model in sorted(ACTION_PARAMS.items()):
        params = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(params.pop("$defs", {}))
        params["properties"] = {
            name: {"anyOf": [prop, _TEMPLATE]} for name, prop in params["properties"].items()
        }
        name = f"with:{kind}"
        defs[name] = params
        branches.append(
            {
                "if": {"properties": {"action": {"const": kind}}, "required": ["action"]},
                "then": {"properties": {"with": {"$ref": f"#/$defs/{name}"}}},
            }
        )
    for holder in ("ActionRef", "Step"):
        defs[holder]["properties"]["action"]["enum"] = sorted(ACTION_PARAMS)
        defs[holder]["allOf"] = branches
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
