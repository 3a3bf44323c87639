"""What a rehearsed action answers: a scenario's answer turned into the action's result, or
into the error the real action would raise for it (an HTTP status it does not expect, an
exit code it does not allow, or a named error type)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from activities.boundary import ACTION_RESULTS
from activities.http import RETRYABLE_STATUSES
from activities.registry import ACTIVITIES
from warroom.contract.models import ActionResult
from warroom.errors import ExecFailed, HttpStatusError, WarroomError

assert ACTIVITIES  # importing the registry fills ACTION_RESULTS

#: The result of an action no scenario answer mentions: it simply worked.
DEFAULTS: dict[str, dict[str, Any]] = {
    "http.request": {"status": 200, "json": {}},
    "webhook.post": {"status": 200},
    "http.wait": {"checks": 1, "elapsed_seconds": 0.0},
    "prometheus.wait": {"checks": 1, "elapsed_seconds": 0.0},
    "prometheus.query": {"result_type": "vector", "samples": []},
    "exec": {"exit_code": 0, "stdout": "", "stderr": "", "duration_seconds": 0.1},
    "email.send": {"message_id": "<rehearsal@warroom>"},
    "pagerduty.event": {"dedup_key": "rehearsal"},
    "statuspage.update": {"incident_id": "rehearsal", "status": "investigating"},
    "slack.post": {},
}
#: Actions whose `status` is an HTTP status, checked against `expect_status` as they do.
_HTTP = {"http.request", "webhook.post"}


def result_of(kind: str, fields: dict[str, Any]) -> ActionResult:
    """The action's result model built from an answer's fields over the defaults."""
    data = {**DEFAULTS.get(kind, {}), **fields}
    if kind == "prometheus.query" and "value" in fields and "samples" not in fields:
        data["samples"] = [{"labels": {}, "value": fields["value"]}]
    return ACTION_RESULTS[kind].model_validate(data)


def answer(kind: str, params: BaseModel, error: WarroomError | None, fields: dict[str, Any]) -> Any:
    """The result the action returns for this answer, or raise what the real action would."""
    if error is not None:
        raise error
    result = result_of(kind, fields)
    if kind in _HTTP:
        status = int(getattr(result, "status", 200))
        expect = getattr(params, "expect_status", None)
        if not (status in expect if expect else 200 <= status < 300):
            raise HttpStatusError(
                f"{kind} answered {status} (rehearsed)",
                status=status,
                retryable=status in RETRYABLE_STATUSES,
            )
    if kind == "exec":
        code = int(getattr(result, "exit_code", 0))
        if code != 0 and code not in getattr(params, "allowed_exit_codes", []):
            raise ExecFailed(f"exited with {code} (rehearsed)", exit_code=code)
    return result


def failure(type_name: str, retryable: bool, message: str) -> WarroomError:
    """An error of the given type (as `retry.non_retryable` names it)."""
    error = WarroomError(message)
    error.type_name, error.retryable = type_name, retryable
    return error
