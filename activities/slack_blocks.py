"""The incident room's messages in Block Kit: the incident card and the step messages (approve /
reject, retry / skip), within Slack's limits (50 blocks, 3,000 characters a text, 75 a button,
2,000 a value; longer text cut with "…"). The buttons' `action_id`s are what warroom's chat
face answers (warroom/chat/)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from warroom.contract.chat import Card, StatusPost, StepMessage

#: Block Kit limits.
MAX_BLOCKS, MAX_TEXT, MAX_HEADER, MAX_BUTTON, MAX_VALUE, MAX_FIELD = 50, 3000, 150, 75, 2000, 2000
#: The buttons (action ids) the chat face acts on: Approve applies at once; Approve with
#: comment… and Reject open a modal asking for the comment / the reason.
APPROVE, APPROVE_WITH_COMMENT, REJECT, RETRY, SKIP, ACKNOWLEDGE = (
    "warroom.approve",
    "warroom.approve_with_comment",
    "warroom.reject",
    "warroom.retry",
    "warroom.skip",
    "warroom.acknowledge",
)
#: Where the card links to: the console (the API's public URL) and the Temporal UI.
PUBLIC_URL_ENV, TEMPORAL_UI_ENV = "WARROOM_PUBLIC_URL", "WARROOM_TEMPORAL_UI"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_id(incident_id: str) -> str:
    return cut(f"card:{incident_id}", 255)


def step_id(incident_id: str, step: str) -> str:
    return cut(f"step:{incident_id}:{step}", 255)


def update_id(incident_id: str, number: int) -> str:
    return cut(f"update:{incident_id}:{number}", 255)


def dm_id(key: str) -> str:
    """A direct message's block id: its send's idempotency key (hashed when too long)."""
    block_id = f"dm:{key}"
    return block_id if len(block_id) <= 255 else f"dm:{hashlib.sha256(key.encode()).hexdigest()}"


def button_value(incident_id: str, step: str | None = None) -> str:
    return cut(json.dumps({"incident": incident_id, "step": step}), MAX_VALUE)


def card_blocks(card: Card) -> list[dict[str, Any]]:
    closed = card.status in ("resolved", "aborted")
    icon = "✅" if card.status == "resolved" else "⛔" if closed else "🚨"
    fields = {
        "Severity": card.severity,
        "Status": card.status.replace("_", " "),
        "Phase": card.phase,
        "Commander": card.commander or "nobody yet",
        "Alerts": f"{card.alerts_firing} firing of {card.alerts_total}",
        "Incident": f"`{card.incident_id}`",
    }
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{icon} {card.title}", MAX_HEADER)},
        {"type": "section", "block_id": card_id(card.incident_id), "text": _md(card.summary)},
        {"type": "section", "fields": [_md(f"*{k}*\n{v}", MAX_FIELD) for k, v in fields.items()]},
    ]
    if card.outcome:
        blocks.append({"type": "section", "text": _md(f"*Outcome:* {card.outcome}")})
    if links := _links(card.incident_id, closed):
        blocks.append({"type": "context", "elements": [_md(" · ".join(links))]})
    if not card.acknowledged and not closed:
        blocks.append(_actions(card.incident_id, None, [("Acknowledge", ACKNOWLEDGE, "primary")]))
    return blocks


def topic(severity: str, status: str, title: str, incident_id: str, commander: str | None) -> str:
    """The channel's topic (Slack allows 250 characters)."""
    lead = f" · commander {commander}" if commander else ""
    return cut(f"{severity} · {status.replace('_', ' ')}{lead} · {title} · {incident_id}", 250)


def card_text(card: Card) -> str:
    """The notification text (and what screen readers say)."""
    return cut(f"{card.severity} {card.status}: {card.title}", MAX_TEXT)


def step_blocks(msg: StepMessage) -> list[dict[str, Any]]:
    title = f" — {msg.title}" if msg.title else ""
    who = ", ".join(msg.approvers) or "anyone but the declarer"
    count = f"{len(msg.approved_by)} of {msg.min_approvals}"
    buttons: list[tuple[str, str, str | None]]
    if msg.status == "awaiting_approval":
        within = f" · within {msg.within}" if msg.within else ""
        text = f"*Approval needed: {msg.step}*{title}\nQuorum {count} · approvers: {who}{within}"
        if msg.approved_by:
            text += f"\nApproved so far by {', '.join(msg.approved_by)}"
        buttons = [
            ("Approve", APPROVE, "primary"),
            ("Approve with comment…", APPROVE_WITH_COMMENT, None),
            ("Reject", REJECT, "danger"),
        ]
    elif msg.status == "failed":
        text = f"⚠️ *{msg.step} failed*{title}: {msg.error or 'error'}\nRetry it or skip it."
        buttons = [("Retry", RETRY, "primary"), ("Skip", SKIP, None)]
    else:
        text, buttons = _outcome(msg, title, count), []
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": step_id(msg.incident_id, msg.step), "text": _md(text)}
    ]
    if buttons:
        blocks.append(_actions(msg.incident_id, msg.step, buttons))
    return blocks


def status_blocks(post: StatusPost) -> list[dict[str, Any]]:
    block_id = update_id(post.incident_id, post.number)
    return [{"type": "section", "block_id": block_id, "text": _md(post.text)}]


def step_text(msg: StepMessage) -> str:
    return cut(f"{msg.step}: {msg.status.replace('_', ' ')}", MAX_TEXT)


def _outcome(msg: StepMessage, title: str, count: str) -> str:
    status = msg.status.replace("_", " ")
    comment = f": {msg.comment}" if msg.comment else ""
    if msg.status == "rejected":
        return f"❌ *{msg.step}* rejected by {msg.decided_by or 'timeout'}{comment}"
    if msg.status == "skipped":
        return f"⏭️ *{msg.step}* skipped by {msg.decided_by or 'warroom'}"
    if msg.approved_by:
        by = ", ".join(msg.approved_by)
        return f"✅ *{msg.step}*{title}: approved by {by} ({count}){comment} — {status}"
    return f"*{msg.step}*{title}: {status}"


def _links(incident_id: str, closed: bool) -> list[str]:
    links = []
    if public := os.environ.get(PUBLIC_URL_ENV):
        base = public.rstrip("/")
        links.append(f"<{base}/console/incidents/{incident_id}|console>")
        if closed:
            links.append(f"<{base}/console/incidents/{incident_id}/postmortem|postmortem>")
    if ui := os.environ.get(TEMPORAL_UI_ENV):
        links.append(f"<{ui.rstrip('/')}/namespaces/default/workflows/{incident_id}|Temporal UI>")
    return links


def _actions(
    incident_id: str, step: str | None, buttons: list[tuple[str, str, str | None]]
) -> dict[str, Any]:
    elements = []
    for label, action_id, style in buttons:
        button: dict[str, Any] = {
            "type": "button",
            "text": _plain(label, MAX_BUTTON),
            "action_id": action_id,
            "value": button_value(incident_id, step),
        }
        if style:
            button["style"] = style
        elements.append(button)
    return {"type": "actions", "elements": elements}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit), "emoji": True}


def _md(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": cut(text or " ", limit)}


def dm_blocks(
    subject: str, text: str, acknowledge: str | None, block_id: str
) -> list[dict[str, Any]]:
    """A direct message to a person: a shift notice, or a page with the card's Acknowledge
    button for the incident `acknowledge` (the chat face answers both alike)."""
    section = {"type": "section", "block_id": block_id, "text": _md(f"*{subject}*\n{text}")}
    blocks: list[dict[str, Any]] = [section]
    if acknowledge:
        blocks.append(_actions(acknowledge, None, [("Acknowledge", ACKNOWLEDGE, "primary")]))
    return blocks
