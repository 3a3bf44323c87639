"""The runbook model: what a YAML runbook may say, validated strictly (unknown keys are errors).

Pure pydantic: the workflow imports it and receives a parsed Runbook as its input (through
pydantic JSON), so it does no I/O and holds nothing that does not serialize. Checks that
need the whole runbook, the YAML positions or the action registry live in
`warroom.language.checks` and `warroom.language.loader`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

import re2
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from warroom.language.durations import Duration, at_load, format_duration
from warroom.language.params import coerce_value

Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
Phase = Literal["triage", "mitigate", "verify", "recover", "communicate"]

#: Phases that run in this order; `communicate` steps may stand anywhere.
PHASE_ORDER: tuple[Phase, ...] = ("triage", "mitigate", "verify", "recover")

SLUG = r"^[a-z0-9][a-z0-9_-]*$"

DEFAULT_CADENCE: dict[Severity, timedelta] = {
    "SEV1": timedelta(minutes=15),
    "SEV2": timedelta(hours=1),
    "SEV3": timedelta(hours=4),
}

#: Shortest status-update cadence: more often floods people and the workflow history.
MIN_CADENCE = timedelta(minutes=1)


def _no_bool(value: Any) -> Any:
    # YAML turns `yes`/`true` into booleans; pydantic would then read them as 1 or 1.0.
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a boolean here: write a number")
    return value


Number = Annotated[float, BeforeValidator(_no_bool)]
LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
IDENTIFIER = r"^[a-z_][a-z0-9_]*$"
ERROR_TYPE = r"^[A-Za-z_][\w.]*$"
# `exec` has no dot; the other kinds are `family.verb`.
ACTION_KIND = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"

#: What each name pattern asks for, in words (for error messages).
PATTERN_WORDS = {
    SLUG: "lowercase letters, digits, - and _",
    LABEL: "a label name: letters, digits and _, not starting with a digit",
    IDENTIFIER: "lowercase letters, digits and _, not starting with a digit",
    ERROR_TYPE: "an error type name, e.g. warroom.HttpStatusError",
    ACTION_KIND: "an action kind, e.g. http.request",
}

Name = Annotated[str, Field(pattern=SLUG, max_length=100)]
LabelName = Annotated[str, Field(pattern=LABEL, max_length=100)]
#: Names a template can read as `params.NAME` / `steps.ID.NAME`: identifiers.
Identifier = Annotated[str, Field(pattern=IDENTIFIER, max_length=100)]
Text = Annotated[str, Field(max_length=10_000)]


class Strict(BaseModel):
    """Base of runbook models: unknown keys are errors; `with` is spelled `with` in YAML."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class RetrySpec(Strict):
    """How often and how patiently a step's action is retried."""

    max_attempts: StrictInt = Field(
        3, ge=1, le=100, description="Attempts in all, the first included."
    )
    initial_interval: Duration = Field(
        timedelta(seconds=1), description="Wait before the 2nd attempt."
    )
    backoff: Number = Field(
        2.0, ge=1.0, le=10.0, description="Each wait is this many times the last."
    )
    max_interval: Duration = Field(
        timedelta(minutes=1), description="Longest wait between attempts."
    )
    non_retryable: list[Annotated[str, Field(pattern=ERROR_TYPE)]] = Field(
        default_factory=list,
        description="Error types never retried, e.g. warroom.HttpStatusError.",
    )

    @model_validator(mode="after")
    def _intervals_in_order(self) -> RetrySpec:
        if self.max_interval < self.initial_interval:
            raise ValueError(
                f"max_interval ({format_duration(self.max_interval)}) is shorter than "
                f"initial_interval ({format_duration(self.initial_interval)}): "
                "raise max_interval or lower initial_interval"
            )
        return self


#: The named retry policies a step may refer to with `retry: NAME`.
RETRY_POLICIES: dict[str, RetrySpec] = {
    "default": RetrySpec(),
    "none": RetrySpec(max_attempts=1),
    "patient": RetrySpec(
        max_attempts=10,
        initial_interval=timedelta(seconds=5),
        max_interval=timedelta(minutes=5),
    ),
    # Status updates: a few quick tries, then give up without disturbing the incident.
    "update": RetrySpec(max_attempts=3, initial_interval=timedelta(seconds=2)),
}


class ActionRef(Strict):
    """An action and its parameters; string values may be Jinja2 templates."""

    action: str = Field(
        pattern=ACTION_KIND,
        description="The action kind, e.g. http.request.",
    )
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="The action's parameters."
    )


def _approver(name: str, info: ValidationInfo) -> str:
    if name == "*" or not at_load(info):
        return name
    if name.startswith("group:"):
        if not re.fullmatch(SLUG, name.removeprefix("group:")):
            raise ValueError(f"{name!r}: write a group as group:NAME (lowercase, - and _)")
        return name
    if name.startswith("oncall:"):
        if not re.fullmatch(SLUG, name.removeprefix("oncall:")):
            raise ValueError(f"{name!r}: write a schedule as oncall:NAME (lowercase, - and _)")
        return name
    if not name.strip():
        raise ValueError("an approver is an empty name: write a person's user name")
    if any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError(
            f"approver {name!r} contains spaces or control characters: write the user name "
            "people approve with (`--by NAME`)"
        )
    return name


Approver = Annotated[str, Field(max_length=100), AfterValidator(_approver)]


class Approval(Strict):
    """A human gate before a risky step: who may approve, how many, and how long to wait."""

    approvers: list[Approver] = Field(
        min_length=1,
        description="People, group:NAME (from teams.yaml), oncall:SCHEDULE (whoever is on "
        'call when the gate opens), or "*" for anyone.',
    )
    min_approvals: StrictInt = Field(1, ge=1, le=20, description="Distinct people needed.")
    timeout: Duration | None = Field(None, description="How long to wait for the decision.")
    on_timeout: Literal["escalate", "reject", "approve"] = Field(
        "reject", description="What a timeout means; reject ends the incident as aborted."
    )


class Goto(Strict):
    """`on_failure: {goto: STEP}`: continue at a later fallback step."""

    goto: Name


OnFailure = Literal["pause", "continue", "abort"] | Goto


class Step(ActionRef):
    """One runbook step: an action run as a retryable Temporal activity."""

    id: Name = Field(description="Unique step id; templates read it as steps.ID.")
    phase: Phase
    title: Text | None = None
    when: StrictBool | str | None = Field(
        None, description='A condition, "{{ expression }}"; the step is skipped when false.'
    )
    outputs: dict[Identifier, str] | None = Field(
        None,
        description="name → template over `result`; only these are kept for later steps.",
    )
    approval: Approval | None = None
    retry: RetrySpec = RETRY_POLICIES["default"]
    timeout: Duration = Field(timedelta(seconds=30), description="Per attempt.")
    on_failure: OnFailure = Field(
        "pause", description="After the last retry: pause | continue | abort | {goto: STEP}."
    )
    compensate: ActionRef | None = Field(
        None, description="An action that undoes this step if the incident is aborted later."
    )

    @field_validator("retry", mode="before")
    @classmethod
    def _named_retry(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in RETRY_POLICIES:
                names = ", ".join(RETRY_POLICIES)
                raise ValueError(f"unknown retry policy {value!r}: use one of {names}")
            return RETRY_POLICIES[value]
        return value

    @field_validator("when")
    @classmethod
    def _when_is_condition(cls, value: bool | str | None) -> bool | str | None:
        plain = isinstance(value, str) and "{{" not in value and "{%" not in value
        if plain and str(value).strip().lower() not in ("true", "false"):
            raise ValueError(
                f"when {value!r} is not a condition: write a template that is true or "
                'false, e.g. "{{ steps.measure.rate | float > 0.05 }}"'
            )
        return value


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad regex is reported by us, not printed by the C++ library


@lru_cache(maxsize=1024)
def label_regex(pattern: str) -> Any:
    """`pattern` compiled by RE2, Alertmanager's own regex syntax: matching runs in time linear
    in the label's length whatever the pattern, so no alert can make routing backtrack for
    ever (raises `re2.error`)."""
    return re2.compile(pattern, _RE2_OPTIONS)


class Matcher(Strict):
    """One parsed label matcher: `label op value` as Alertmanager writes it."""

    label: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op in ("=", "!="):
            return (actual == self.value) == (self.op == "=")
        # Anchored, as in Alertmanager.
        return (label_regex(self.value).fullmatch(actual) is not None) == (self.op == "=~")


def parse_matcher(label: str, spec: str) -> Matcher:
    """`{label: spec}` of `match:`: "=~regex", "!~regex", "!=value", "=value" or just "value"."""
    for op in ("=~", "!~", "!=", "="):
        if spec.startswith(op):
            value = spec[len(op) :]
            break
    else:
        op, value = "=", spec
    if op in ("=~", "!~"):
        try:
            label_regex(value)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ValueError(
                f"{label}: {value!r} is not a valid regex ({reason}); write it as Alertmanager "
                "does (RE2: no lookaround, no backreferences)"
            ) from None
    return Matcher(label=label, op=op, value=value)


def _matchers(value: dict[str, str]) -> dict[str, str]:
    for label, spec in value.items():
        parse_matcher(label, spec)
    return value


class SeverityFrom(Strict):
    """Severity from an alert label: `{label: severity, map: {critical: SEV1, warning: SEV3}}`."""

    label: LabelName
    map: dict[str, Severity] = Field(min_length=1)


#: How long a level waits after the level before it when it does not say (`wait`).
DEFAULT_LEVEL_WAIT = timedelta(minutes=15)


class EscalationLevel(Strict):
    """Who is notified at one escalation level, and how long after the level before it."""

    notify: list[ActionRef] = Field(min_length=1)
    wait: Duration = Field(
        DEFAULT_LEVEL_WAIT,
        description="The wait before this level: how long after the level before it was "
        "notified (and nobody acknowledged or decided) this level is notified. Level 1 is "
        "notified as soon as escalation starts, so a wait on it has no effect.",
    )


class Escalation(Strict):
    """Nobody acknowledged within `acknowledge_within` (or an approval timed out with
    `on_timeout: escalate`, or a failed step waits for a person): notify level 1 at once,
    then each next level after its own `wait`."""

    acknowledge_within: Duration
    levels: list[EscalationLevel] | None = Field(None, min_length=1)
    policy: Name | None = Field(
        None,
        description="An escalation policy of oncall.yaml instead of `levels`: each level pages "
        "the people it names (whoever is on call then) through their contact methods.",
    )

    @model_validator(mode="after")
    def _levels_or_policy(self) -> Escalation:
        if self.policy is None and not self.levels:
            raise ValueError("escalation needs levels, or a policy from oncall.yaml")
        if self.policy is not None and self.levels:
            raise ValueError("escalation takes levels or a policy, not both")
        return self


ParamType = Literal["string", "int", "float", "bool", "duration"]


class Param(Strict):
    """A typed input a person gives when declaring: `declare --param NAME=VALUE`."""

    type: ParamType = "string"
    default: StrictBool | StrictInt | float | str | None = None
    description: Text = ""
    required: StrictBool = False

    @model_validator(mode="after")
    def _default_fits(self) -> Param:
        if self.default is None:
            return self
        if self.required:
            raise ValueError("a param with a default is not required: drop one of the two")
        coerce_value(self.type, self.default)
        return self


#: A Slack channel name: lowercase letters, digits, - and _, at most 80 characters.
CHANNEL_NAME = r"#?[a-z0-9][a-z0-9_-]{0,79}"
#: A Slack channel id: C (or G: an older private channel), then uppercase letters and digits.
CHANNEL_ID = r"[CG][A-Z0-9]{8,11}"
#: What `chat.slack.channel` takes: "create" (a name too), a channel name, or a channel id.
CHANNEL = rf"{CHANNEL_NAME}|{CHANNEL_ID}"
CHANNEL_WORDS = (
    'write create, a channel name such as "#payments-incidents" (lowercase letters, digits, '
    "- and _, at most 80) or a channel id such as C024BE91L"
)


def is_channel_id(channel: str) -> bool:
    """Whether `chat.slack.channel` names a channel by its id (else "create" or a name)."""
    return re.fullmatch(CHANNEL_ID, channel) is not None


def _channel(value: Any) -> Any:
    """A value that is no channel is refused in words, with the closest channel it may mean."""
    if not isinstance(value, str) or re.fullmatch(CHANNEL, value):
        return value
    if value.strip().lower() == "create":
        guess = "create"
    elif re.fullmatch(r"[CGcg][A-Za-z0-9]{8,11}", value.strip()):
        guess = value.strip().upper()
    else:
        guess = "#" + re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_#")[:80]
    hint = f" (did you mean {guess!r}?)" if re.fullmatch(CHANNEL, guess) else ""
    raise ValueError(f"{value!r} is not a channel: {CHANNEL_WORDS}{hint}")


class SlackRoom(Strict):
    """The incident's room in Slack: a channel of its own, or a fixed one."""

    channel: Annotated[str, BeforeValidator(_channel), Field(pattern=f"^({CHANNEL})$")] = Field(
        "create",
        description='"create" (a channel per incident, #inc-<date>-<runbook>-<id>), or a '
        'fixed channel by name ("#payments-incidents") or by id ("C024BE91L").',
    )
    invite: list[Approver] = Field(
        default_factory=list,
        description='People and groups invited to a created channel: ["group:sre", "dana"].',
    )
    at_close: Literal["archive", "rename", "keep"] = Field(
        "archive", description="What happens to a created channel when the incident closes."
    )

    @property
    def creates(self) -> bool:
        return self.channel == "create"


class Chat(Strict):
    """Where the incident's people talk (people.yaml maps their chat ids to names)."""

    slack: SlackRoom | None = None


class Runbook(Strict):
    """A whole runbook: the workflow input carries it, so a running incident keeps its runbook."""

    name: Name
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Text = ""
    owner: Text | None = None
    tags: list[Name] = Field(default_factory=list)
    service: Text | None = None
    match: Annotated[dict[LabelName, str], AfterValidator(_matchers)] = Field(
        default_factory=dict,
        description='Alert label matchers: {alertname: X, env: "!=dev", severity: "=~crit.*"}.',
    )
    severity: Severity = "SEV2"
    severity_from: SeverityFrom | None = None
    cadence: dict[Severity, Duration] = Field(
        default_factory=lambda: dict(DEFAULT_CADENCE),
        description="Status-update interval per severity (defaults kept for the others).",
    )
    escalation: Escalation | None = None
    updates: list[ActionRef] = Field(default_factory=list)
    on_alert_resolved: Literal["skip_mitigation", "continue", "resolve"] = "skip_mitigation"
    params: dict[Identifier, Param] = Field(default_factory=dict)
    chat: Chat | None = Field(
        None, description="The incident room in chat; default: chat.yaml beside the runbooks."
    )
    steps: list[Step] = Field(min_length=1)

    @field_validator("cadence")
    @classmethod
    def _merge_default_cadence(
        cls, value: dict[Severity, timedelta], info: ValidationInfo
    ) -> dict[Severity, timedelta]:
        for severity, interval in value.items():
            if interval < MIN_CADENCE and at_load(info):
                raise ValueError(
                    f"{severity}: {format_duration(interval)} is too often for status updates: "
                    f"use at least {format_duration(MIN_CADENCE)}"
                )
        return {**DEFAULT_CADENCE, **value}

    @property
    def service_name(self) -> str:
        return self.service or self.name

    @property
    def matchers(self) -> list[Matcher]:
        return [parse_matcher(label, spec) for label, spec in self.match.items()]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels opens this runbook (all matchers hold)."""
        return bool(self.match) and all(m.matches(labels) for m in self.matchers)

    def severity_for(self, labels: Mapping[str, str]) -> Severity:
        """The severity an alert with these labels gets: `severity_from`, else `severity`."""
        if self.severity_from:
            mapped = self.severity_from.map.get(labels.get(self.severity_from.label, ""))
            if mapped:
                return mapped
        return self.severity

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)
