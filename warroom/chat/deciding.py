"""A decision from Slack, sent through the same application call as the CLI and the API
(`warroom.incidents.decisions.send`: validated update, deadline protocol), with the outcome
in words for the person who asked."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client

from warroom.contract.models import IncidentState, StepState
from warroom.errors import WarroomError
from warroom.incidents import decisions


def update_id(raw: bytes) -> str:
    """The same Slack request (Slack's retry, a replay) becomes the same update: it applies once."""
    return "slack-" + hashlib.sha256(raw).hexdigest()[:40]


async def decide(
    client: Client, incident_id: str, word: str, by: str, fields: dict[str, Any], raw: bytes
) -> tuple[bool, str]:
    """Send the decision; (applied, what happened)."""
    try:
        kind, decision = decisions.from_slack(word, by, fields)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        return False, f"Not applied: {problems}"
    try:
        answer = await decisions.send(client, incident_id, kind, decision, update_id=update_id(raw))
    except WarroomError as err:
        return False, f"Not applied: {err}"
    return True, _applied(incident_id, word, by, answer)


def _applied(incident_id: str, word: str, by: str, answer: StepState | IncidentState) -> str:
    if isinstance(answer, StepState):
        return f"{by}: {word} {answer.id} on {incident_id} — {answer.status.replace('_', ' ')}"
    return f"{by}: {word} on {incident_id} — {answer.status.replace('_', ' ')}"
