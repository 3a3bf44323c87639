"""Button clicks and modal submissions from Slack (`POST /v1/chat/slack/interactions`):
Approve (at once), Approve with comment… and Reject (a modal asks for the comment / the
reason, and its submission decides), Retry / Skip on a failed step,
Acknowledge on the card. The clicker is mapped to a person through people.yaml; someone
unknown can read but not decide."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from activities.slack_blocks import (
    ACKNOWLEDGE,
    APPROVE,
    APPROVE_WITH_COMMENT,
    REJECT,
    RETRY,
    SKIP,
)
from warroom.access.roles import Principal, Role, RoleRequired, chat_principal, require
from warroom.chat import replies
from warroom.chat.deciding import decide
from warroom.chat.signing import Refused
from warroom.language.people import People

#: Button → the decision word (warroom.incidents.decisions.WORDS).
WORD = {APPROVE: "approve", RETRY: "retry", SKIP: "skip", ACKNOWLEDGE: "ack"}
#: The modals that ask for a comment (callback id): the decision their submission sends,
#: which button opens them, and their wording (title, submit, question; Slack allows 24
#: characters in a title or a submit label).
REJECT_VIEW, APPROVE_VIEW = "warroom.reject", "warroom.approve"


class Modal(NamedTuple):
    word: str
    button: str
    title: str
    submit: str
    question: str


MODALS = {
    REJECT_VIEW: Modal("reject", REJECT, "Reject step", "Reject", "Why reject {step}?"),
    APPROVE_VIEW: Modal(
        "approve",
        APPROVE_WITH_COMMENT,
        "Approve step",
        "Approve",
        "Your comment on approving {step}",
    ),
}
MODAL_OF = {m.button: callback for callback, m in MODALS.items()}
#: The modal's one input (named "reason" since Reject's modal came first: a modal opened
#: before an upgrade still submits).
COMMENT_BLOCK, COMMENT_INPUT = "reason", "reason"

Later = Callable[[], Awaitable[None]]


class Target(BaseModel):
    """A button's value: which incident (and step) it acts on."""

    incident: str
    step: str | None = None


def parse(form: dict[str, str]) -> dict[str, Any]:
    try:
        payload = json.loads(form.get("payload", ""))
    except ValueError:
        raise Refused(400, "the form has no `payload` JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), dict):
        raise Refused(400, "the payload is not an interaction (no user)")
    return payload


def handle(
    payload: dict[str, Any], raw: bytes, people: People, client: Callable[[], Awaitable[Client]]
) -> tuple[dict[str, Any] | None, Later | None]:
    """What to answer Slack at once, and the work to do after answering."""
    user = str(payload["user"].get("id", ""))
    person = people.by_slack(user)
    principal = chat_principal(people, person)
    refused = _role_refusal(principal)
    kind = payload.get("type")
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            raise Refused(400, "block_actions without actions")
        action = actions[0]
        target = _target(action.get("value"))
        response_url = payload.get("response_url")
        if person is None:
            return None, lambda: replies.respond(response_url, _unknown(user))
        if refused:
            return None, lambda: replies.respond(response_url, refused)
        callback = MODAL_OF.get(str(action.get("action_id")))
        if callback is not None:
            channel = (payload.get("channel") or {}).get("id", "")
            view = comment_view(callback, target, channel)
            return None, lambda: replies.open_view(str(payload.get("trigger_id", "")), view)
        word = WORD.get(str(action.get("action_id")))
        if word is None:
            raise Refused(400, f"unknown action {action.get('action_id')!r}")
        fields = {"step": target.step} if target.step else {}

        async def later() -> None:
            applied, said = await decide(await client(), target.incident, word, person, fields, raw)
            if not applied:
                await replies.respond(response_url, said)

        return None, later
    if kind == "view_submission":
        view = payload.get("view") or {}
        modal = MODALS.get(str(view.get("callback_id")))
        if modal is None:
            raise Refused(400, "unknown view")
        meta = _meta(view.get("private_metadata"))
        target = Target(incident=meta.get("incident", ""), step=meta.get("step"))
        channel = str(meta.get("channel", ""))
        if person is None:
            return None, lambda: replies.tell(channel, user, _unknown(user))
        if refused:
            return None, lambda: replies.tell(channel, user, refused)
        comment = _comment(view)

        async def submitted() -> None:
            fields = {"step": target.step, "comment": comment}
            applied, said = await decide(
                await client(), target.incident, modal.word, person, fields, raw
            )
            if not applied and channel:
                await replies.tell(channel, user, said)

        return {}, submitted  # {} closes the modal
    raise Refused(400, f"interaction type {kind!r} is not one warroom answers")


def comment_view(callback_id: str, target: Target, channel: str) -> dict[str, Any]:
    """The modal asking for the comment of the decision `callback_id` names (MODALS)."""
    modal = MODALS[callback_id]
    meta = json.dumps({"incident": target.incident, "step": target.step, "channel": channel})
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": meta[:3000],
        "title": {"type": "plain_text", "text": modal.title},
        "submit": {"type": "plain_text", "text": modal.submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "label": {
                    "type": "plain_text",
                    "text": modal.question.format(step=target.step)[:2000],
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": COMMENT_INPUT,
                    "multiline": True,
                    "max_length": 2000,
                },
            }
        ],
    }


def _target(value: Any) -> Target:
    try:
        return Target.model_validate_json(str(value))
    except ValidationError:
        raise Refused(400, "the button's value is not warroom's") from None


def _meta(value: Any) -> dict[str, Any]:
    try:
        meta = json.loads(str(value))
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or not meta.get("incident") or not meta.get("step"):
        raise Refused(400, "the modal's private_metadata is not warroom's")
    return meta


def _comment(view: dict[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(COMMENT_BLOCK) or {}
    return str((values.get(COMMENT_INPUT) or {}).get("value") or "")


def _role_refusal(principal: Principal | None) -> str | None:
    """Why someone people.yaml knows may not decide from Slack (a viewer), or None."""
    if principal is None:
        return None
    try:
        require(principal, Role.responder, "a decision from Slack")
    except RoleRequired as err:
        return f"Not applied: {err}"
    return None


def _unknown(user: str) -> str:
    return (
        f"Not applied: Slack user {user} is not in people.yaml, so warroom does not know who "
        "you are: you can read the incident, not decide"
    )
