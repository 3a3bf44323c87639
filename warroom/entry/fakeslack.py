"""A fake of the Slack Web API on a loopback port (for `warroom demo --slack` and the tests), answering the methods warroom calls the way
Slack documents them: bearer token (`not_authed`, `invalid_auth`), required arguments, `ok:
false` with Slack's error codes, the bot's scopes (`missing_scope` for a method the app
manifest's scopes do not allow), channels and messages kept, Block Kit limits checked
(`invalid_blocks`, `msg_too_long`), 429 with Retry-After on demand. Every call is recorded.
`response_url`s point at it too (`/response/<n>`)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from warroom.entry.jsonserver import JsonServer, Reply, Request

TOKEN = "xoxb-fake-bot-token"
#: The signing secret the fake signs its users' requests with (as Slack does).
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER = "UBOTWARROOM"
#: The bot scopes of the README's app manifest (a test keeps the two the same).
SCOPES = frozenset(
    {
        "channels:manage",
        "channels:read",
        "channels:history",
        "groups:read",
        "groups:history",
        "chat:write",
        "im:write",
        "im:history",
        "pins:write",
        "commands",
    }
)
#: The scope each method needs (api.slack.com/methods); `conversations.history` needs the
#: history scope of the conversation's kind (`channels:history`, `im:history`…).
METHOD_SCOPES = {
    "conversations.create": "channels:manage",
    "conversations.setTopic": "channels:manage",
    "conversations.invite": "channels:manage",
    "conversations.archive": "channels:manage",
    "conversations.rename": "channels:manage",
    "conversations.list": "channels:read",
    "conversations.open": "im:write",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "pins.add": "pins:write",
}
HISTORY_SCOPES = {"C": "channels:history", "G": "groups:history", "D": "im:history"}
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
#: Block Kit limits (api.slack.com/reference/block-kit).
MAX_BLOCKS, MAX_TEXT, MAX_HEADER, MAX_BUTTON, MAX_VALUE, MAX_MESSAGE = (
    50,
    3000,
    150,
    75,
    2000,
    40000,
)
#: A modal's limits (api.slack.com/reference/surfaces/views): title, submit and close labels,
#: callback_id, private_metadata.
MAX_VIEW_LABEL, MAX_CALLBACK_ID, MAX_METADATA = 24, 255, 3000


@dataclass
class Channel:
    id: str
    name: str
    creator: str
    topic: str = ""
    members: set[str] = field(default_factory=set)
    archived: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)

    def message(self, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["ts"] == ts), None)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None = None


class SlackError(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


class FakeSlack:
    """The fake workspace and its HTTP server (`url` + "api/" is the Web API base URL)."""

    def __init__(self, token: str = TOKEN, scopes: frozenset[str] = SCOPES) -> None:
        self.token = token
        self.scopes = set(scopes)
        self.channels: dict[str, Channel] = {}
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        #: method → how many of its next calls answer 429 with Retry-After: 1.
        self.rate_limited: dict[str, int] = {}
        #: method → a Slack error code its next call answers with (once).
        self.fail_next: dict[str, str] = {}
        #: method → called (once) after its next call acted, before the answer leaves: a test
        #: kills the caller there, so that Slack did the work and the caller never heard.
        self.after_next: dict[str, Callable[[], None]] = {}
        #: methods whose next call acts but whose answer is lost on the way (the caller gets
        #: a 502 Bad Gateway, as from a proxy in between): Slack did it, the caller never heard.
        self.lose_next: set[str] = set()
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.server = JsonServer(self.handle)

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url + "/"

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/"

    def __enter__(self) -> FakeSlack:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    # ---- what tests look at ----------------------------------------------------------

    def channel_named(self, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.name == name.lstrip("#")), None)

    def add_channel(self, name: str, *, member: bool = True) -> Channel:
        """A channel that already exists in the workspace (bot in it unless `member=False`)."""
        channel = Channel(f"C{next(self._ids):08d}", name, "UHUMAN0001")
        if member:
            channel.members.add(BOT_USER)
        self.channels[channel.id] = channel
        return channel

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def response_url(self) -> str:
        return f"{self.server.url}/response/{next(self._ids)}"

    # ---- HTTP ------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = request.path.split("?", 1)[0]
        args = _args(request)
        if path.startswith("/response/"):
            with self._lock:
                self.responses.append({"path": path, **args})
            return Reply(200, "ok")
        method = path.removeprefix("/api/")
        with self._lock:
            if self.rate_limited.get(method):
                self.rate_limited[method] -= 1
                self.calls.append(Call(method, args, False, "ratelimited"))
                return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
            try:
                if request.method != "POST":
                    raise SlackError("method_not_supported_for_channel_type")
                self._auth(request)
                if method in self.fail_next:
                    raise SlackError(self.fail_next.pop(method))
                answer = self._dispatch(method, args)
            except SlackError as err:
                self.calls.append(Call(method, args, False, err.code))
                return Reply(200, {"ok": False, "error": err.code})
            self.calls.append(Call(method, args, True))
            hook = self.after_next.pop(method, None)
            lost = method in self.lose_next
            self.lose_next.discard(method)
        if hook is not None:
            hook()
        if lost:
            return Reply(502, None)
        return Reply(200, {"ok": True, **answer})

    def _auth(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise SlackError("not_authed")
        if header.removeprefix("Bearer ") != self.token:
            raise SlackError("invalid_auth")

    def _dispatch(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            raise SlackError("unknown_method")
        needed = METHOD_SCOPES.get(method)
        if method == "conversations.history":
            needed = HISTORY_SCOPES.get(str(args.get("channel", ""))[:1])
        if needed and needed not in self.scopes:
            raise SlackError("missing_scope")
        answer: dict[str, Any] = handler(args)
        return answer

    # ---- methods ---------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": BOT_USER, "team_id": "T0FAKE", "url": "https://fake.slack.com/"}

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _required(args, "name")
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if self.channel_named(name):
            raise SlackError("name_taken")
        channel = Channel(f"C{next(self._ids):08d}", name, BOT_USER, members={BOT_USER})
        self.channels[channel.id] = channel
        return {"channel": _channel_json(channel)}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        exclude = str(args.get("exclude_archived", "false")).lower() in ("true", "1")
        found = [c for c in self.channels.values() if not (exclude and c.archived)]
        return {
            "channels": [_channel_json(c) for c in found],
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """The bot's DM with one user (`users=U…`), opened if it was not."""
        users = [u for u in str(_required(args, "users")).split(",") if u]
        if len(users) != 1 or not users[0].startswith(("U", "W")):
            raise SlackError("user_not_found" if len(users) == 1 else "not_enough_users")
        return {"channel": {"id": self._dm(users[0]).id}}

    def _conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args)
        topic = _required(args, "topic")
        if len(topic) > 250:
            raise SlackError("too_long")
        channel.topic = topic
        return {"channel": _channel_json(channel)}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args)
        users = [u for u in str(_required(args, "users")).split(",") if u]
        if not users:
            raise SlackError("no_user")
        if all(u in channel.members for u in users):
            raise SlackError("already_in_channel")
        channel.members.update(users)
        return {"channel": _channel_json(channel)}

    def _conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.archived:
            raise SlackError("already_archived")
        channel.archived = True
        return {}

    def _conversations_rename(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args)
        name = _required(args, "name")
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if self.channel_named(name) not in (None, channel):
            raise SlackError("name_taken")
        channel.name = name
        return {"channel": _channel_json(channel)}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        limit = int(args.get("limit", 100))
        newest_first = list(reversed(channel.messages))[:limit]
        return {"messages": newest_first, "has_more": len(channel.messages) > limit}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args, dm=True)
        message = self._message(args)
        message |= {"type": "message", "user": BOT_USER, "ts": self._next_ts()}
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args, dm=True)
        found = channel.message(_required(args, "ts"))
        if found is None:
            raise SlackError("message_not_found")
        if found.get("user") != BOT_USER:
            raise SlackError("cant_update_message")
        found.update(self._message(args), edited=True)
        return {"channel": channel.id, "ts": found["ts"], "text": found.get("text", "")}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args)
        user = _required(args, "user")
        message = self._message(args)
        self.ephemeral.append({"channel": channel.id, "user": user, **message})
        return {"message_ts": self._next_ts()}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args)
        ts = _required(args, "timestamp")
        if channel.message(ts) is None:
            raise SlackError("message_not_found")
        if ts in channel.pins:
            raise SlackError("already_pinned")
        channel.pins.append(ts)
        return {}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        _required(args, "trigger_id")
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackError("invalid_arguments")
        labels = [(view.get(k) or {}).get("text", "") for k in ("title", "submit", "close")]
        if not labels[0] or any(len(text) > MAX_VIEW_LABEL for text in labels):
            raise SlackError("invalid_arguments")
        if len(view.get("callback_id", "")) > MAX_CALLBACK_ID:
            raise SlackError("invalid_arguments")
        if len(view.get("private_metadata", "")) > MAX_METADATA:
            raise SlackError("invalid_arguments")
        self._check_blocks(view.get("blocks", []))
        self.views.append(view)
        return {"view": {"id": f"V{next(self._ids):08d}", **view}}

    # ---- rules -----------------------------------------------------------------------

    def _channel(self, args: dict[str, Any]) -> Channel:
        channel = self.channels.get(_required(args, "channel"))
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _writable(self, args: dict[str, Any], *, dm: bool = False) -> Channel:
        target = _required(args, "channel")
        if dm and target.startswith(("U", "W", "D")):
            return self._dm(target)
        channel = self._channel(args)
        if channel.archived:
            raise SlackError("is_archived")
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _dm(self, user: str) -> Channel:
        """The bot's DM channel with `user` (its id `D` + the user id's rest), made at first use."""
        dm_id = "D" + user[1:] if not user.startswith("D") else user
        return self.channels.setdefault(
            dm_id, Channel(dm_id, dm_id, BOT_USER, members={BOT_USER, user})
        )

    def _message(self, args: dict[str, Any]) -> dict[str, Any]:
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise SlackError("invalid_blocks_format") from None
        if not text and not blocks:
            raise SlackError("no_text")
        if text and len(text) > MAX_MESSAGE:
            raise SlackError("msg_too_long")
        message: dict[str, Any] = {"text": text or ""}
        if blocks is not None:
            self._check_blocks(blocks)
            message["blocks"] = blocks
        return message

    def _check_blocks(self, blocks: Any) -> None:
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            raise SlackError("invalid_blocks")
        for block in blocks:
            if not isinstance(block, dict) or "type" not in block:
                raise SlackError("invalid_blocks")
            limit = MAX_HEADER if block["type"] == "header" else MAX_TEXT
            for text in _texts(block):
                if len(text) > limit:
                    raise SlackError("invalid_blocks")
            for element in block.get("elements", []) if block["type"] == "actions" else []:
                if len(element.get("text", {}).get("text", "")) > MAX_BUTTON:
                    raise SlackError("invalid_blocks")
                if len(element.get("value", "")) > MAX_VALUE:
                    raise SlackError("invalid_blocks")

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"


def _texts(block: dict[str, Any]) -> list[str]:
    found = []
    if isinstance(block.get("text"), dict):
        found.append(str(block["text"].get("text", "")))
    for item in block.get("fields", []) or []:
        found.append(str(item.get("text", "")))
    return found


def _args(request: Request) -> dict[str, Any]:
    body = request.body
    if isinstance(body, dict):
        return body
    if isinstance(body, str) and body:
        return dict(parse_qsl(body))
    query = request.path.split("?", 1)[1] if "?" in request.path else ""
    return dict(parse_qsl(query))


def _required(args: dict[str, Any], name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("invalid_arguments" if name != "channel" else "channel_not_found")
    return value


def _channel_json(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "creator": channel.creator,
        "is_channel": True,
        "is_archived": channel.archived,
        "is_member": BOT_USER in channel.members,
        "topic": {"value": channel.topic},
    }


def sign(body: bytes, *, at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack sends with `body`, signed as Slack signs (v0, HMAC-SHA256)."""
    timestamp = str(int(at if at is not None else time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click_body(
    user: str, action_id: str, value: str, response_url: str, *, channel: str = "C1"
) -> bytes:
    """A block_actions payload as Slack posts it for a button click."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "channel": {"id": channel},
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "response_url": response_url,
        "actions": [{"action_id": action_id, "value": value, "action_ts": str(time.time_ns())}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def texts(message: dict[str, Any]) -> str:
    """Everything a person reads in a message."""
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        for item in [block.get("text") or {}, *(block.get("fields") or [])]:
            parts.append(item.get("text", ""))
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id → value of the message's buttons."""
    return {
        e["action_id"]: e["value"]
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    }


def transcript(channel: Channel) -> str:
    """The channel as a person sees it: its name, topic, and each message's blocks (pinned
    and edited ones marked, buttons in brackets)."""
    state = " (archived)" if channel.archived else ""
    lines = [f"#{channel.name}{state} — topic: {channel.topic}"]
    for message in channel.messages:
        marks = " ".join(
            m
            for m, on in (
                ("📌", message["ts"] in channel.pins),
                ("(edited)", message.get("edited")),
            )
            if on
        )
        lines.append(f"── {message['ts']} {marks}".rstrip())
        for block in message.get("blocks", []):
            if block["type"] == "actions":
                lines.append("   " + " ".join(f"[{e['text']['text']}]" for e in block["elements"]))
                continue
            for item in [block.get("text") or {}, *(block.get("fields") or [])]:
                for line in str(item.get("text", "")).splitlines():
                    lines.append(f"   {line}")
    return "\n".join(lines)
