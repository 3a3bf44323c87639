"""A rehearsal scenario: how the incident opens, what every action answers, what people
decide and which alerts arrive at virtual times, and what must hold at the end.

Read strictly like a runbook (`warroom.language.loader.parse_document`): unknown keys, wrong
types and references to steps the runbook does not have are refused with file:line:col.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from activities.boundary import ACTION_RESULTS
from warroom.contract.models import DecisionKind, PersonName, Role, StepStatus
from warroom.language.checks import Finding, did_you_mean
from warroom.language.durations import Duration, format_duration, parse_duration
from warroom.language.loader import parse_document, read_limited
from warroom.language.runbook import Runbook, Severity
from warroom.rehearsal.answers import result_of

#: Where a runbook's scenarios live, next to it: scenarios/<runbook name>/*.yaml.
SCENARIOS_DIR = "scenarios"
#: How long a rehearsal plays after the last event when the scenario does not say (`until`).
DEFAULT_TAIL = timedelta(hours=1)
#: Most status updates one rehearsal may play: each is a timer, a workflow task and an action
#: call on the time-skipping server, and the whole history is read back at the end; 4,320 (3
#: days at a 1-minute cadence) took about 70 s on the 2-core development machine. Every
#: cadence of 15 minutes or more fits the longest scenario (30 days) under it.
MAX_UPDATES = 5_000


def _offset(value: Any) -> Any:
    """A virtual time since the incident opened: a duration, or 0."""
    if value in (0, "0"):
        return timedelta()
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool | int | float):
        raise ValueError(f"{value!r} has no unit: write it with one, e.g. {value}m")
    return value


#: `at:` — a time since the incident opened (`0`, `90s`, `10m`, `2d`).
At = Annotated[timedelta, BeforeValidator(_offset)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Answer(BaseModel):
    """One answer of an action: an `error`, or the fields of its result (checked per action
    kind against the runbook), e.g. `{status: 503}`, `{value: 0.12}`, `{exit_code: 1}`."""

    model_config = ConfigDict(extra="allow")

    error: str | None = Field(None, description="Error type, e.g. warroom.HttpTransportError.")
    retryable: bool = True
    message: str = "rehearsed failure"

    @property
    def fields(self) -> dict[str, Any]:
        """The result fields given (everything but error, retryable, message)."""
        return dict(self.model_extra or {})


class AlertSpec(_Strict):
    """The alert that opens the incident (or a later notification, with `at`)."""

    fingerprint: str = "rehearsal"
    source: str = "rehearsal"
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class LaterAlert(AlertSpec):
    at: At
    #: `repeat` sends the opening notification again (deduplicated by the workflow).
    fingerprint: str = ""


class Declare(_Strict):
    """An incident declared by hand."""

    summary: str = "rehearsal"
    by: PersonName = "rehearsal"
    severity: Severity | None = None
    params: dict[str, Any] = Field(default_factory=dict)


#: Decisions a person can take in a scenario, with the key that names it.
PEOPLE_KEYS: dict[str, DecisionKind] = {
    "approve": "approve",
    "reject": "reject",
    "retry": "retry",
    "skip": "skip",
    "abort": "abort",
    "acknowledge": "acknowledge",
    "assign": "assign",
    "note": "note",
    "severity": "severity",
    "resolve": "resolve",
}


class Assignment(_Strict):
    role: Role
    to: PersonName


#: The buttons a scenario may click in Slack → the decision word the chat face sends for it
#: (warroom.incidents.decisions.WORDS); `approve` with a `comment` is "Approve with comment…"
#: and its modal, `reject` is Reject and its modal (whose reason is required).
SLACK_CLICKS: dict[str, str] = {
    "approve": "approve",
    "reject": "reject",
    "retry": "retry",
    "skip": "skip",
    "acknowledge": "ack",
}
#: The clicks that take a comment (typed into the modal they open).
SLACK_COMMENTED = ("approve", "reject")


class SlackClick(_Strict):
    """A click in the incident's Slack room, e.g. `{click: approve, step: rollback}`."""

    click: Literal["approve", "reject", "retry", "skip", "acknowledge"]
    step: str | None = None
    comment: str = ""

    @model_validator(mode="after")
    def _fits_the_button(self) -> SlackClick:
        if self.click == "acknowledge" and self.step is not None:
            raise ValueError("acknowledge is the card's button: it names no step")
        if self.click != "acknowledge" and self.step is None:
            raise ValueError(f"{self.click} is a step's button: say which step (step:)")
        if self.comment and self.click not in SLACK_COMMENTED:
            raise ValueError(f"{self.click} opens no modal: only approve and reject take a comment")
        if self.click == "reject" and not self.comment:
            raise ValueError("Reject's modal asks for the reason: give it as comment:")
        return self


class PersonEvent(_Strict):
    """One decision at a virtual time, e.g. `{at: 10m, approve: rollback, by: alice}`."""

    at: At
    by: PersonName
    approve: str | None = None
    reject: str | None = None
    retry: str | None = None
    skip: str | None = None
    abort: bool | None = None
    acknowledge: bool | None = None
    assign: Assignment | None = None
    note: str | None = None
    severity: Severity | None = None
    resolve: bool | None = None
    #: The decision clicked in Slack instead (sent as the chat face sends it).
    slack: SlackClick | None = None
    comment: str = ""
    #: The workflow must refuse it (e.g. someone who is not an approver).
    refused: bool = False

    @model_validator(mode="after")
    def _one_decision(self) -> PersonEvent:
        keys = [*PEOPLE_KEYS, "slack"]
        given = [k for k in keys if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError(
                f"say exactly one decision per entry (got {', '.join(given) or 'none'}): "
                f"one of {', '.join(keys)}"
            )
        if self.slack is not None and self.comment:
            raise ValueError("a Slack click's comment goes in slack: (slack: {comment: ...})")
        return self

    @property
    def kind(self) -> DecisionKind:
        if self.slack is not None:
            return self.slack.click
        return next(PEOPLE_KEYS[k] for k in PEOPLE_KEYS if getattr(self, k) not in (None, False))

    @property
    def step(self) -> str | None:
        if self.slack is not None:
            return self.slack.step
        return self.approve or self.reject or self.retry or self.skip


#: The decisions that name a step.
STEP_DECISIONS = ("approve", "reject", "retry", "skip")


class StepExpectation(_Strict):
    status: StepStatus | None = None
    attempts: int | None = None


class Expect(_Strict):
    """What must hold when the rehearsal ends."""

    status: Literal["resolved", "aborted"] | None = None
    steps: dict[str, StepExpectation] = Field(default_factory=dict)
    updates: int | None = Field(None, description="Status updates posted.")
    escalations: int | None = None
    acknowledged_within: Duration | None = None
    mitigated_within: Duration | None = None
    resolved_within: Duration | None = None
    #: Steps whose action must never have been called (not even once).
    not_run: list[str] = Field(default_factory=list)


class Scenario(_Strict):
    description: str = ""
    alert: AlertSpec | None = None
    declare: Declare | None = None
    #: Stand-in secret values (every other secret the runbook uses gets a placeholder URL).
    secrets: dict[str, str] = Field(default_factory=dict)
    #: Answers per action call, by step id, `update-N` (the Nth `updates:` target),
    #: `escalation-N` or `compensate-STEP`; the last answer repeats.
    actions: dict[str, list[Answer]] = Field(default_factory=dict)
    people: list[PersonEvent] = Field(default_factory=list)
    alerts: list[LaterAlert] = Field(default_factory=list)
    #: How long the rehearsal plays at most (virtual), from the opening; then an incident
    #: still open is aborted. Default: an hour after the last event.
    until: Duration | None = None
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _opened_once(self) -> Scenario:
        if (self.alert is None) == (self.declare is None):
            raise ValueError("say how the incident opens: either alert: or declare: (one of them)")
        return self

    def horizon(self) -> timedelta:
        if self.until is not None:
            return self.until
        times = [e.at for e in self.people] + [a.at for a in self.alerts]
        return max(times, default=timedelta()) + DEFAULT_TAIL


def load_scenario(path: Path, runbook: Runbook) -> Scenario:
    """Read and check one scenario file against its runbook (RunbookError, file:line:col):
    every mistake at once, the schema's and the references to the runbook alike."""
    return parse_document(
        read_limited(path),
        str(path),
        Scenario,
        check_data=lambda data: scenario_findings(data, runbook),
        check=lambda scenario: too_long(scenario, runbook),
    )


def scenarios_of(runbook_path: Path, name: str) -> list[Path]:
    """The scenario files of a runbook: scenarios/<name>/*.yaml next to it."""
    folder = runbook_path.parent / SCENARIOS_DIR / name
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def runbook_of(scenario_path: Path) -> Path:
    """The runbook a scenario file in scenarios/<name>/ belongs to."""
    name = scenario_path.resolve().parent.name
    return scenario_path.resolve().parent.parent.parent / f"{name}.yaml"


# ---- checks against the runbook ------------------------------------------------------


def action_targets(runbook: Runbook) -> dict[str, str]:
    """Every name an action call goes by in an incident of `runbook`, with its action kind."""
    targets = {s.id: s.action for s in runbook.steps if s.action in ACTION_RESULTS}
    targets |= {f"update-{n}": t.action for n, t in enumerate(runbook.updates, start=1)}
    levels = (runbook.escalation.levels or []) if runbook.escalation else []
    for level in levels:
        targets |= {f"escalation-{n}": t.action for n, t in enumerate(level.notify, start=1)}
    targets |= {f"compensate-{s.id}": s.compensate.action for s in runbook.steps if s.compensate}
    return targets


def scenario_findings(data: Any, runbook: Runbook) -> Iterator[Finding]:
    """What a scenario says of the runbook that the runbook does not have: action calls,
    steps and params it names. Read from the raw document, so that the findings come with
    the schema's own (a misspelt key elsewhere hides none of them)."""
    if not isinstance(data, dict):
        return
    steps = {s.id: s for s in runbook.steps}
    targets = action_targets(runbook)
    for name, answers in _mapping(data.get("actions")).items():
        if name not in targets:
            known = ", ".join(targets)
            yield Finding(
                ("actions", name),
                f"{name!r} is no action call of runbook {runbook.name}"
                f"{did_you_mean(name, list(targets))}; known: {known}",
                at_key=True,
            )
            continue
        for i, raw in enumerate(answers if isinstance(answers, list) else []):
            try:
                answer = Answer.model_validate(raw)
            except ValidationError:
                continue  # the schema says why
            yield from _answer_findings(("actions", name, i), targets[name], answer)
    people = data.get("people")
    for i, event in enumerate(people if isinstance(people, list) else []):
        for kind in STEP_DECISIONS:
            step = _mapping(event).get(kind)
            if isinstance(step, str) and step not in steps:
                yield _unknown_step(("people", i, kind), step, steps)
        step = _mapping(_mapping(event).get("slack")).get("step")
        if isinstance(step, str) and step not in steps:
            yield _unknown_step(("people", i, "slack", "step"), step, steps)
    expect = _mapping(data.get("expect"))
    for name in _mapping(expect.get("steps")):
        if name not in steps:
            yield _unknown_step(("expect", "steps", name), str(name), steps, at_key=True)
    not_run = expect.get("not_run")
    for i, name in enumerate(not_run if isinstance(not_run, list) else []):
        if isinstance(name, str) and name not in targets:
            yield _unknown_step(("expect", "not_run", i), name, steps)
    runbook_params = list(runbook.params)
    for p in _mapping(_mapping(data.get("declare")).get("params")):
        if p not in runbook.params:
            declared = ", ".join(runbook_params) or "none"
            yield Finding(
                ("declare", "params", p),
                f"runbook has no param {p!r}{did_you_mean(str(p), runbook_params)} "
                f"(its params: {declared})",
                at_key=True,
            )


def too_long(scenario: Scenario, runbook: Runbook) -> Iterator[Finding]:
    """A scenario whose incident would post more than MAX_UPDATES status updates while it
    plays (open until `until`, its last event plus an hour, or a `resolve` / `abort`),
    refused before anything starts."""
    updates, end, cadences = updates_played(scenario, runbook)
    if updates <= MAX_UPDATES:
        return
    times = [("people", i, e.at) for i, e in enumerate(scenario.people)]
    times += [("alerts", i, a.at) for i, a in enumerate(scenario.alerts)]
    if scenario.until is not None:
        loc: tuple[str | int, ...] = ("until",)
    elif times:
        key, i, _ = max(times, key=lambda t: t[2])
        loc = (key, i, "at")
    else:
        loc = ()
    at = ", ".join(f"{sev} every {format_duration(c)}" for sev, c in cadences.items())
    yield Finding(
        loc,
        f"the incident would post about {updates:,} status updates in the "
        f"{format_duration(end)} this scenario plays ({at}); a rehearsal plays at most "
        f"{MAX_UPDATES:,}: end it sooner (until:, its last event, a resolve), or rehearse a "
        "runbook with a longer cadence",
        at_key=loc == ("until",),
    )


def updates_played(
    scenario: Scenario, runbook: Runbook
) -> tuple[int, timedelta, dict[Severity, timedelta]]:
    """How many cadence status updates the incident posts at most while the scenario plays,
    for how long it plays, and the cadences it goes through (severity changes included)."""
    end = scenario.horizon()
    closing = [e.at for e in scenario.people if (e.resolve or e.abort) and not e.refused]
    end = min([end, *closing])
    if scenario.declare is not None:
        severity = scenario.declare.severity or runbook.severity
    else:
        severity = runbook.severity_for(scenario.alert.labels if scenario.alert else {})
    changes = sorted(
        (e.at, e.severity) for e in scenario.people if e.severity and not e.refused and e.at < end
    )
    updates, since, cadences = 0.0, timedelta(), {}
    for at, then in [*changes, (end, None)]:
        cadence = runbook.cadence.get(severity)
        if cadence:
            updates += (at - since) / cadence
            cadences[severity] = cadence
        since, severity = at, then or severity
    return int(updates), end, cadences


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _unknown_step(
    loc: tuple[str | int, ...], name: str, steps: dict[str, Any], *, at_key: bool = False
) -> Finding:
    return Finding(
        loc,
        f"no step {name!r} in the runbook{did_you_mean(name, list(steps))}; "
        f"steps: {', '.join(steps)}",
        at_key=at_key,
    )


def _answer_findings(loc: tuple[str | int, ...], kind: str, answer: Answer) -> Iterator[Finding]:
    if answer.error is not None:
        if answer.fields:
            yield Finding(loc, "an answer is either an error or result fields, not both")
        return
    model = ACTION_RESULTS[kind]
    known = [f.alias or n for n, f in model.model_fields.items() if n != "attempt"]
    for key in answer.fields:
        if key not in known:
            yield Finding(
                (*loc, key),
                f"{kind} answers with {', '.join(known)} (or error:), not {key!r}"
                f"{did_you_mean(key, known)}",
                at_key=True,
            )
    try:
        result_of(kind, answer.fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        yield Finding(
            loc, f"not a {kind} answer: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        )
