"""Static checks of a parsed runbook: what the schema alone cannot see.

Cross-step rules (ids, phase order, goto), each action's arguments against its parameter
model (literal values included), templates (syntax and what they refer to), approvers
against teams.yaml. Each check yields a Finding: where (a location in the YAML data) and
what is wrong, with what to write instead. `warroom.language.loader` turns locations into
file:line:col. On a runbook that failed its schema the checks run on what parsed
(`warroom.language.salvage`) and skip what depends on the parts that did not.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from warroom.expressions.templating import secret_usage_problems
from warroom.language.runbook import PHASE_ORDER, ActionRef, Goto, Runbook, Step
from warroom.language.salvage import NO_GAPS, Gaps
from warroom.language.teams import Teams, resolve_approvers, unknown_group
from warroom.language.template_refs import (
    is_template,
    references,
    single_expression,
    syntax_error,
)
from warroom.language.yaml_source import Loc, child, walk_strings

#: Names every runbook template may read.
BASE_ROOTS = frozenset({"incident", "alert", "params", "steps", "secret"})
#: Fields of `alert` in templates (the normalized alert that opened the incident).
ALERT_FIELDS = frozenset(
    {"labels", "annotations", "fingerprint", "starts_at", "ends_at", "status", "generator_url"}
)
#: Jinja2's own globals (range, dict, namespace, ...) are not runbook names.
_JINJA_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
#: `steps.ID.status` is the step's own state, whatever outputs the step declares.
STEP_STATUS = "status"
#: `steps.ID.result` is the action's whole (size-capped) result of a step without `outputs`.
STEP_RESULT = "result"


@dataclass(frozen=True)
class Finding:
    """A problem at `loc`; `at_key` points at the key naming the location instead of its value."""

    loc: Loc
    message: str
    at_key: bool = False


@dataclass(frozen=True)
class Scope:
    """What a template at some place may read."""

    roots: frozenset[str]
    #: Steps with an index below this may be read; None: any step (updates, escalation).
    before: int | None
    #: The step the template belongs to, for a clearer message when it reads itself.
    own: str | None
    #: No secrets: `when` and `outputs` are evaluated where secrets must never go.
    secrets: bool = True


@dataclass(frozen=True)
class _Known:
    """The runbook the checks read, what of it did not parse, and its step ids as written."""

    rb: Runbook
    gaps: Gaps
    ids: list[str | None]

    @property
    def named(self) -> list[str]:
        """The step ids there are (a step whose id is missing has none)."""
        return [i for i in self.ids if i is not None]

    def unknown_step(self, target: str) -> bool:
        """Whether no step has the id `target`, as far as can be told: while a step's id did
        not parse, a reference may mean that step."""
        return target not in self.ids and None not in self.ids


def check_runbook(
    rb: Runbook,
    action_params: Mapping[str, type[BaseModel]],
    teams: Teams | None,
    gaps: Gaps = NO_GAPS,
) -> Iterator[Finding]:
    """Every static problem of a schema-valid runbook, or of what parsed of one that is not
    (`gaps`: the parts set aside, whose checks are skipped)."""
    known = _Known(rb, gaps, gaps.step_ids(rb))
    yield from _step_order(known)
    for i, step in enumerate(rb.steps):
        if ("steps", i) not in gaps:
            yield from _check_step(known, i, step, action_params, teams)
    anywhere = Scope(BASE_ROOTS | {"update"}, None, None)
    targets: list[tuple[Loc, ActionRef]] = [(("updates", i), r) for i, r in enumerate(rb.updates)]
    if rb.escalation:
        for n, level in enumerate(rb.escalation.levels or []):
            targets += [
                (("escalation", "levels", n, "notify", i), r) for i, r in enumerate(level.notify)
            ]
    for loc, ref in targets:
        if _parsed_action(loc, gaps):
            yield from check_action(loc, ref, action_params, supplied={"text"})
        yield from _templates_in((*loc, "with"), ref.with_, anywhere, known)


def _check_step(
    known: _Known,
    i: int,
    step: Step,
    action_params: Mapping[str, type[BaseModel]],
    teams: Teams | None,
) -> Iterator[Finding]:
    """The problems of one step (`known` gives the other steps, params and ids it may refer to)."""
    loc: Loc = ("steps", i)
    own = known.ids[i]
    if _parsed_action(loc, known.gaps):
        yield from check_action(loc, step, action_params)
    yield from _templates_in((*loc, "with"), step.with_, Scope(BASE_ROOTS, i, own), known)
    if isinstance(step.when, str):
        if (
            is_template(step.when)
            and not single_expression(step.when)
            and syntax_error(step.when) is None
        ):
            yield Finding(
                (*loc, "when"),
                "when must be one {{ expression }} and nothing around it, "
                'e.g. "{{ steps.measure.rate | float > 0.05 }}"',
            )
        no_secrets = Scope(BASE_ROOTS, i, own, secrets=False)
        yield from _template((*loc, "when"), step.when, no_secrets, known)
    for name, text in (step.outputs or {}).items():
        if name == STEP_STATUS:
            yield Finding(
                (*loc, "outputs", name),
                "the output name 'status' is taken (steps.ID.status is the step's state): "
                "choose another name",
                at_key=True,
            )
        scope = Scope(BASE_ROOTS | {"result"}, i, own, secrets=False)
        yield from _template((*loc, "outputs", name), text, scope, known)
    if step.compensate:
        if _parsed_action((*loc, "compensate"), known.gaps):
            yield from check_action((*loc, "compensate"), step.compensate, action_params)
        scope = Scope(BASE_ROOTS, i + 1, None)  # runs after this step: it may read it
        with_ = step.compensate.with_
        yield from _templates_in((*loc, "compensate", "with"), with_, scope, known)
    if step.approval:
        yield from _approvers((*loc, "approval"), step, teams)


def _parsed_action(loc: Loc, gaps: Gaps) -> bool:
    """Whether the action and `with` at `loc` are the file's own (not stand-ins)."""
    return (*loc, "action") not in gaps and (*loc, "with") not in gaps


# ---- order of steps ------------------------------------------------------------------


def _step_order(known: _Known) -> Iterator[Finding]:
    ids, gaps = known.ids, known.gaps
    furthest: str = "triage"
    for i, step in enumerate(known.rb.steps):
        if ("steps", i) in gaps:
            continue  # a stand-in for a step that did not parse
        sid = ids[i]
        if ("steps", i, "id") not in gaps and sid in ids[:i]:
            yield Finding(
                ("steps", i, "id"), f"step id {sid!r} is used twice: give each step its own id"
            )
        if step.phase != "communicate":  # also the stand-in for a phase that did not parse
            if PHASE_ORDER.index(step.phase) < PHASE_ORDER.index(furthest):
                name = f"step {sid!r}" if sid is not None else "this step"
                yield Finding(
                    ("steps", i, "phase"),
                    f"{name} (phase {step.phase}) comes after a {furthest} step: "
                    "phases run in order triage → mitigate → verify → recover, "
                    "so move it up or change its phase",
                )
            else:
                furthest = step.phase
        if isinstance(step.on_failure, Goto):
            target = step.on_failure.goto
            where = ("steps", i, "on_failure", "goto")
            if known.unknown_step(target):
                hint = did_you_mean(target, known.named)
                yield Finding(where, f"goto {target!r}: no such step{hint}")
            elif target in ids and ids.index(target) <= i:
                yield Finding(
                    where,
                    f"goto {target!r} goes back to an earlier step (or this one): a fallback "
                    "must be a later step, so runbooks cannot loop",
                )


# ---- actions and their arguments -----------------------------------------------------


def check_action(
    loc: Loc,
    ref: ActionRef,
    action_params: Mapping[str, type[BaseModel]],
    supplied: frozenset[str] | set[str] = frozenset(),
) -> Iterator[Finding]:
    """An action kind that exists, and `with` arguments it accepts, literal values included.

    `supplied` names arguments the workflow fills in itself (`text` of a status update).
    Templated values are checked only after rendering, inside the activity.
    """
    model = action_params.get(ref.action)
    if model is None:
        known = ", ".join(sorted(action_params))
        yield Finding(
            (*loc, "action"),
            f"unknown action {ref.action!r}{did_you_mean(ref.action, action_params)}; "
            f"known actions: {known}",
        )
        return
    accepted = [f.alias or n for n, f in model.model_fields.items()]
    missing_supplied = [s for s in supplied if s not in accepted]
    if missing_supplied:
        yield Finding(
            (*loc, "action"),
            f"notifications receive the status line as `text`, which {ref.action} does not "
            "take: use webhook.post",
        )
    data = {**{s: "{{ supplied }}" for s in supplied if s in accepted}, **ref.with_}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            yield from _argument_problem(loc, ref, accepted, err)


def _argument_problem(loc: Loc, ref: ActionRef, accepted: list[str], err: Any) -> Iterator[Finding]:
    eloc: Loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(eloc[0])
        yield Finding(
            (*loc, "with", key),
            f"{ref.action} has no parameter {key!r}{did_you_mean(key, accepted)}; "
            f"it takes: {', '.join(accepted)}",
            at_key=True,
        )
    elif kind == "missing" and len(eloc) == 1:
        name = str(eloc[0])
        yield Finding(
            (*loc, "with"),
            f"{ref.action} needs {name!r}: add `{name}: ...` under `with`",
            at_key=True,
        )
    elif not _templated(ref.with_, eloc):
        msg = str(err["msg"]).removeprefix("Value error, ")
        path = ".".join(str(p) for p in eloc)
        yield Finding((*loc, "with", *eloc), f"{ref.action} {path}: {msg} (got {err['input']!r})")


def _templated(data: Any, path: Loc) -> bool:
    """Whether the value at `path`, or a value on the way to it, is a template."""
    for part in path:
        if is_template(data):
            return True
        found, data = child(data, part)
        if not found:
            return False
    return is_template(data)


# ---- templates -----------------------------------------------------------------------


def _templates_in(loc: Loc, value: Any, scope: Scope, known: _Known) -> Iterator[Finding]:
    for where, text in walk_strings(value, loc):
        yield from _template(where, text, scope, known)


def _template(loc: Loc, text: str, scope: Scope, known: _Known) -> Iterator[Finding]:
    if not is_template(text):
        return
    if (err := syntax_error(text)) is not None:
        yield Finding(loc, err)
        return
    for ref in sorted(references(text)):
        if (problem := _reference_problem(ref, scope, known)) is not None:
            yield Finding(loc, problem)
    if scope.secrets:
        yield from (Finding(loc, p) for p in secret_usage_problems(text))


def _reference_problem(ref: tuple[str, ...], scope: Scope, known: _Known) -> str | None:
    root, rest = ref[0], ref[1:]
    rb = known.rb
    if root in _JINJA_GLOBALS:
        return None
    if root == "secret" and not scope.secrets:
        return (
            "secret is not available here: conditions and outputs are evaluated in the "
            "workflow, where secret values must never go"
        )
    if root not in scope.roots:
        return _unknown_root(root, scope)
    if not rest:
        return None
    if root == "steps":
        return None if ("steps",) in known.gaps else _step_reference(rest, scope, known)
    if root == "params" and rest[0] not in rb.params and ("params",) not in known.gaps:
        declared = ", ".join(rb.params) or "none"
        return (
            f"params.{rest[0]} is not declared{did_you_mean(rest[0], rb.params)}: declare it under "
            f"`params:` (declared: {declared})"
        )
    if root == "alert" and rest[0] not in ALERT_FIELDS:
        fields = ", ".join(sorted(ALERT_FIELDS))
        return (
            f"alert has no field {rest[0]!r}{did_you_mean(rest[0], ALERT_FIELDS)}; it has: {fields}"
        )
    return None


def _unknown_root(root: str, scope: Scope) -> str:
    if root == "result":
        return "`result` exists only in a step's `outputs`: read earlier steps as steps.ID"
    if root == "update":
        return "`update` exists only in status updates and escalation notifications"
    names = ", ".join(sorted(scope.roots - ({"secret"} if not scope.secrets else set())))
    return f"unknown name {root!r}{did_you_mean(root, scope.roots)}; templates here see: {names}"


def _step_reference(rest: tuple[str, ...], scope: Scope, known: _Known) -> str | None:
    ids, named = known.ids, known.named
    target = rest[0]
    if known.unknown_step(target):
        return (
            f"steps.{target}: no such step{did_you_mean(target, named)}; steps: {', '.join(named)}"
        )
    if target not in ids:
        return None  # perhaps the step whose id did not parse
    index = ids.index(target)
    if scope.before is not None and index >= scope.before:
        if target == scope.own:
            return (
                f"step {target!r} reads its own result before it has one: "
                "use `result` in its outputs, or read an earlier step"
            )
        return (
            f"steps.{target} runs later than this template (a template reads only steps "
            f"that ran before it): move step {target!r} up, or do not refer to it here"
        )
    if ("steps", index, "outputs") in known.gaps:
        return None  # what the step keeps is not known
    outputs = known.rb.steps[index].outputs
    if len(rest) > 1 and outputs is None and rest[1] not in (STEP_STATUS, STEP_RESULT):
        return (
            f"steps.{target}.{rest[1]}: a step without `outputs` keeps its action's whole result "
            f"as steps.{target}.{STEP_RESULT} (write steps.{target}.{STEP_RESULT}.{rest[1]}), "
            f"or declare `outputs` on step {target!r} to keep only what later steps need"
        )
    if len(rest) > 1 and outputs is not None and rest[1] not in outputs and rest[1] != STEP_STATUS:
        names = ", ".join([*outputs, STEP_STATUS])
        return (
            f"step {target!r} has no output {rest[1]!r}{did_you_mean(rest[1], outputs)}: it keeps only "
            f"what its `outputs` declare ({names}); add {rest[1]!r} there or read one of those"
        )
    return None


# ---- approvals -----------------------------------------------------------------------


def _approvers(loc: Loc, step: Step, teams: Teams | None) -> Iterator[Finding]:
    approval = step.approval
    assert approval is not None
    groups = [(j, a) for j, a in enumerate(approval.approvers) if a.startswith("group:")]
    if groups and teams is None:
        yield Finding(
            (*loc, "approvers", groups[0][0]),
            f"{groups[0][1]} needs a teams.yaml (next to the runbook, or $WARROOM_TEAMS) "
            "that lists its members",
        )
        return
    unknown = [(j, a) for j, a in groups if a.removeprefix("group:") not in (teams or {})]
    for j, approver in unknown:
        yield Finding(
            (*loc, "approvers", j), unknown_group(approver.removeprefix("group:"), teams or {})
        )
    if unknown:
        return
    people = resolve_approvers(approval.approvers, teams or {})
    if "*" not in people and approval.min_approvals > len(people):
        yield Finding(
            (*loc, "min_approvals"),
            f"min_approvals is {approval.min_approvals} but the approvers are only "
            f"{len(people)} distinct people ({', '.join(people)}): add approvers or lower "
            "min_approvals",
        )


# ---- warnings ------------------------------------------------------------------------


def runbook_warnings(rb: Runbook) -> Iterator[Finding]:
    """What loads but has no effect, said at load without refusing the runbook."""
    if (
        rb.escalation
        and rb.escalation.levels
        and "wait" in rb.escalation.levels[0].model_fields_set
    ):
        yield Finding(
            ("escalation", "levels", 0, "wait"),
            "this wait has no effect: level 1 is notified as soon as escalation starts. A "
            "level's wait is the wait before it, after the level before; put it on the level "
            "it should hold back, or remove it",
            at_key=True,
        )


def did_you_mean(word: str, options: Any) -> str:
    """ " (did you mean 'x'?)" for the closest of `options`, or nothing."""
    match = difflib.get_close_matches(word, [str(o) for o in options], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
