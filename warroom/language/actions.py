"""What each action kind's `with:` may say: one strict parameter model per kind, and the table
`ACTION_PARAMS` (kind → model) the loader, the checks and the JSON Schema read."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from warroom.expressions.conditions import PathCondition, ValueCondition
from warroom.language.durations import Duration
from warroom.language.workflow_actions import NOTE, WAIT, NoteParams, WaitParams

# ---- characters a value can carry ------------------------------------------------------
# A value some protocol cannot carry is refused here, when the runbook loads (literals) or when
# the activity renders it (templates), with what to fix, rather than failing deep in a library
# with a bare ValueError that Temporal would retry. Messages never quote the value: it may be a
# secret.

#: RFC 9110 field names: a token.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def header_name_problem(name: str) -> str | None:
    """Why `name` cannot be an HTTP header name, or None."""
    if _FIELD_NAME.fullmatch(name):
        return None
    return (
        f"{name!r} is not an HTTP header name: use letters, digits and !#$%&'*+-.^_`|~ only "
        "(no spaces, colons or line breaks)"
    )


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an HTTP header value, or None. Spaces and tabs around it
    are not part of a field value (the sender strips them); inside it they are fine."""
    if "\r" in value or "\n" in value:
        return (
            "the value contains a line break, which an HTTP header cannot carry (a secret or a "
            "file read with its trailing newline?): remove it"
        )
    if "\x00" in value:
        return "the value contains a NUL character, which an HTTP header cannot carry: remove it"
    if any((c < " " and c != "\t") or c == "\x7f" for c in value):
        return "the value contains a control character, which an HTTP header cannot carry"
    if not value.isascii():
        return (
            "the value contains a non-ASCII character; HTTP header values are ASCII: "
            "percent-encode it (`| urlencode`) or send it in the body"
        )
    return None


def header_problem(name: str, value: str) -> str | None:
    """Why `name: value` cannot be sent as an HTTP header, or None."""
    problem = header_name_problem(name) or header_value_problem(value)
    return f"header {name!r}: {problem}" if problem else None


def _check(problem: Callable[[str], str | None]) -> AfterValidator:
    """A pydantic validator raising `problem(value)` when there is one."""

    def validate(value: str) -> str:
        if (found := problem(value)) is not None:
            raise ValueError(found)
        return value

    return AfterValidator(validate)


def _os_string_problem(value: str) -> str | None:
    if "\x00" in value:
        return (
            "contains a NUL character, which a program's arguments, environment and file "
            "paths cannot carry (they end at the first NUL): remove it"
        )
    return None


def _env_name_problem(value: str) -> str | None:
    if not value or "=" in value:
        return f"{value!r} is not an environment variable name (it must be non-empty, no `=`)"
    return _os_string_problem(value)


def _single_line_problem(value: str) -> str | None:
    if any(c < " " or c == "\x7f" for c in value):
        return (
            "contains a line break or another control character, which an SMTP command or a "
            "mail header cannot carry: remove it"
        )
    return None


def _credential_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character, which SMTP AUTH cannot carry (NUL separates its fields)"
    return None


def _host_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character: give a host name or an IP address"
    try:
        value.encode("idna")  # what the socket layer does with a host name
    except UnicodeError as exc:
        return f"{value!r} is not a valid host name ({exc}): give a host name or an IP address"
    return None


HeaderName = Annotated[str, _check(header_name_problem)]
HeaderValue = Annotated[str, _check(header_value_problem)]
#: An HTTP header map, every name and value checked.
Headers = dict[HeaderName, HeaderValue]
#: A program argument, environment value or file path (a C string: no NUL).
OsString = Annotated[str, _check(_os_string_problem)]
EnvName = Annotated[str, _check(_env_name_problem)]
SingleLine = Annotated[str, _check(_single_line_problem)]
Credential = Annotated[str, _check(_credential_problem)]
HostName = Annotated[str, _check(_host_problem)]


# ---- http.request ----------------------------------------------------------------------


class BasicAuth(BaseModel):
    """`basic_auth: {username, password}` (write the password as `{{ secret.NAME }}`)."""

    model_config = ConfigDict(extra="forbid")

    username: str
    password: str


class HttpRequestParams(BaseModel):
    """`with:` of an http.request step."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(pattern=r"^https?://")
    query: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Query parameters, encoded and added to the URL."
    )
    headers: Headers = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json", description="A JSON body.")
    text_body: str | None = Field(
        None, alias="body", description="A raw text body (not with json)."
    )
    basic_auth: BasicAuth | None = None
    bearer: HeaderValue | None = Field(
        None, description="A bearer token: Authorization: Bearer TOKEN."
    )
    follow_redirects: bool = Field(
        False, description="Follow 3xx answers; Authorization is never sent to another host."
    )
    expect_status: list[int] | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("expect_status", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | str) else value

    @model_validator(mode="after")
    def _one_body_one_auth(self) -> HttpRequestParams:
        if self.json_body is not None and self.text_body is not None:
            raise ValueError("give `json` or `body`, not both")
        if self.basic_auth is not None and self.bearer is not None:
            raise ValueError("give `basic_auth` or `bearer`, not both")
        return self

    def auth_header(self) -> str | None:
        if self.bearer is not None:
            return f"Bearer {self.bearer}"
        if self.basic_auth is not None:
            pair = f"{self.basic_auth.username}:{self.basic_auth.password}"
            return f"Basic {base64.b64encode(pair.encode()).decode('ascii')}"
        return None


# ---- webhook.post ----------------------------------------------------------------------


class WebhookParams(BaseModel):
    """`with:` of a webhook.post step or update target."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    text: str = Field(min_length=1)
    headers: Headers = Field(default_factory=dict)
    #: Signs the body: `X-Warroom-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.
    hmac_secret: str | None = Field(None, min_length=1)


# ---- the waits: http.wait, prometheus.wait ---------------------------------------------


class PollParams(BaseModel):
    """The `with:` keys every wait shares."""

    model_config = ConfigDict(extra="forbid")

    interval: Duration = timedelta(seconds=10)
    timeout: Duration = timedelta(minutes=10)
    #: Consecutive checks that must pass (a number), or how long the condition must keep
    #: holding (a duration, counted in checks: 1 + hold_for / interval).
    hold_for: int | Duration = Field(1)
    #: Bound of one check's request, so a hanging server cannot stall the wait.
    request_timeout: Duration = timedelta(seconds=10)

    def checks_needed(self) -> int:
        if isinstance(self.hold_for, timedelta):
            return 1 + math.ceil(self.hold_for / self.interval)
        return max(1, self.hold_for)


class HttpWaitParams(PollParams):
    """`with:` of an http.wait step."""

    url: str = Field(pattern=r"^https?://")
    headers: Headers = Field(default_factory=dict)
    condition: PathCondition


# ---- prometheus.query, prometheus.wait -------------------------------------------------


class PrometheusQueryParams(BaseModel):
    """`with:` of a prometheus.query step."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    url: str | None = Field(None, pattern=r"^https?://")


class PrometheusWaitParams(PollParams, PrometheusQueryParams):
    """`with:` of a prometheus.wait step: every sample must satisfy `condition`."""

    condition: ValueCondition


# ---- exec ------------------------------------------------------------------------------


class ExecParams(BaseModel):
    """`with:` of an exec step."""

    model_config = ConfigDict(extra="forbid")

    command: list[OsString] = Field(min_length=1)
    cwd: OsString | None = None
    env: dict[EnvName, OsString] = Field(default_factory=dict)
    timeout: Duration = timedelta(minutes=5)
    allowed_exit_codes: list[int] = Field(default_factory=list)


# ---- email.send ------------------------------------------------------------------------

_EMAIL_ADDRESS = r"^[^@\s<>,]+@[^@\s<>,]+$"


class EmailParams(BaseModel):
    """`with:` of an email.send step or update target (`password` from a secret)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    host: HostName = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)
    starttls: bool = False
    #: A CA bundle to trust for STARTTLS (a relay with a private CA); default: the system's.
    ca_file: OsString | None = None
    #: Non-ASCII user names and passwords go as UTF-8 over AUTH PLAIN (RFC 4616).
    username: Credential | None = None
    password: Credential | None = None
    sender: SingleLine = Field(alias="from", pattern=_EMAIL_ADDRESS)
    to: list[SingleLine] = Field(min_length=1, max_length=100)
    subject: str = Field(min_length=1, max_length=998)
    text: str = Field(min_length=1, max_length=1_000_000)
    timeout: Duration = timedelta(seconds=30)


# ---- pagerduty.event -------------------------------------------------------------------

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class PagerDutyParams(BaseModel):
    """`with:` of a pagerduty.event step; `routing_key` should be a `{{ secret.NAME }}`."""

    model_config = ConfigDict(extra="forbid")

    event_action: Literal["trigger", "acknowledge", "resolve"]
    routing_key: str = Field(min_length=1)
    dedup_key: str | None = Field(None, min_length=1, max_length=255)
    summary: str | None = Field(None, min_length=1)
    source: str | None = Field(None, min_length=1)
    severity: Literal["critical", "error", "warning", "info"] | None = None
    component: str | None = None
    group: str | None = None
    custom_details: dict[str, Any] = Field(default_factory=dict)
    url: str = Field(PAGERDUTY_EVENTS_URL, pattern=r"^https?://")

    @model_validator(mode="after")
    def _trigger_needs_payload(self) -> PagerDutyParams:
        if self.event_action == "trigger":
            missing = [n for n in ("summary", "source", "severity") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"a trigger needs {', '.join(missing)}")
        return self


# ---- slack.post ------------------------------------------------------------------------

SLACK_API_URL = "https://slack.com/api"


class SlackParams(BaseModel):
    """`with:` of a slack.post step or update target: `webhook_url`, or `token` and `channel`."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    webhook_url: str | None = Field(None, pattern=r"^https?://")
    token: HeaderValue | None = None
    channel: str | None = None
    thread_ts: str | None = None
    api_url: str = Field(SLACK_API_URL, pattern=r"^https?://")

    @model_validator(mode="after")
    def _one_way_to_post(self) -> SlackParams:
        if bool(self.webhook_url) == bool(self.token):
            raise ValueError("give either `webhook_url` or `token` (with `channel`), not both")
        if self.token and not self.channel:
            raise ValueError("`token` posts with chat.postMessage, which needs `channel`")
        if self.webhook_url and self.thread_ts:
            raise ValueError("`thread_ts` needs `token` and `channel`: webhooks cannot thread")
        return self


# ---- statuspage.update -----------------------------------------------------------------

STATUSPAGE_API_URL = "https://api.statuspage.io"
_STATUSPAGE_ID = r"^[A-Za-z0-9]+$"

ComponentStatus = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]


class StatuspageParams(BaseModel):
    """`with:` of a statuspage.update step: without `incident_id` it creates (needs `name`)."""

    model_config = ConfigDict(extra="forbid")

    page_id: str = Field(pattern=_STATUSPAGE_ID)
    api_key: HeaderValue = Field(min_length=1)
    incident_id: str | None = Field(None, pattern=_STATUSPAGE_ID)
    name: str | None = Field(None, min_length=1)
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    body: str | None = None
    components: dict[str, ComponentStatus] = Field(default_factory=dict)
    api_url: str = Field(STATUSPAGE_API_URL, pattern=r"^https?://")

    @model_validator(mode="after")
    def _create_needs_name(self) -> StatuspageParams:
        if self.incident_id is None and self.name is None:
            raise ValueError("creating an incident needs `name` (or give `incident_id` to update)")
        return self


# ---- the table -------------------------------------------------------------------------

#: Every action kind a runbook may name, with the model its `with:` must satisfy: the kinds an
#: activity carries out (under the same activity name) and the two the workflow runs itself.
ACTION_PARAMS: dict[str, type[BaseModel]] = {
    "email.send": EmailParams,
    "exec": ExecParams,
    "http.request": HttpRequestParams,
    "http.wait": HttpWaitParams,
    NOTE: NoteParams,
    "pagerduty.event": PagerDutyParams,
    "prometheus.query": PrometheusQueryParams,
    "prometheus.wait": PrometheusWaitParams,
    "slack.post": SlackParams,
    "statuspage.update": StatuspageParams,
    WAIT: WaitParams,
    "webhook.post": WebhookParams,
}
