"""What of a runbook that fails its schema can still be checked.

A structural error (an unknown key, a bad enum value) must not hide the file's other problems.
`salvage` sets aside each broken part of the YAML data — drops an optional key so its default
applies, or puts a neutral stand-in where a value is required (a step's phase becomes
`communicate`, its action `note`) — until the runbook validates, and says in `Gaps` which
places it set aside, so the static checks run on everything else and skip what depends on
them. Places are locations in the YAML data, as in `warroom.language.checks.Finding`.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from warroom.language.durations import AT_LOAD
from warroom.language.runbook import ActionRef, Escalation, EscalationLevel, Runbook, Step
from warroom.language.yaml_source import Loc, child

#: Rounds of setting parts aside before giving up: a stand-in that fails again moves the
#: fix one model up, and runbook models nest only a few deep.
_ROUNDS = 8


@dataclass(frozen=True)
class Gaps:
    """The places of a runbook's data that did not parse: the model holds stand-ins there."""

    broken: frozenset[Loc] = frozenset()
    #: Each step's id as written (None: missing, or not text), for references and gotos.
    ids: tuple[str | None, ...] | None = None

    def __contains__(self, loc: object) -> bool:
        """Whether `loc` is a broken place or inside one."""
        if not isinstance(loc, tuple):
            return False
        return any(loc[:n] in self.broken for n in range(len(loc) + 1))

    def step_ids(self, rb: Runbook) -> list[str | None]:
        """The steps' ids as written in the file (the model's, when everything parsed)."""
        return list(self.ids) if self.ids is not None else [s.id for s in rb.steps]


#: A runbook that parsed: nothing set aside.
NO_GAPS = Gaps()


def salvage(data: dict[str, Any], error: ValidationError) -> tuple[Runbook, Gaps] | None:
    """A valid runbook made of what parsed in `data` (which failed with `error`) and the places
    set aside to get it; None if no such runbook was found (then only the schema errors can be
    reported)."""
    work: Any = data
    broken: set[Loc] = set()
    for _ in range(_ROUNDS):
        before = Gaps(frozenset(broken))
        fixes: dict[Loc, Any] = {}
        for err in error.errors():
            options = _fixes(data_loc(work, tuple(err["loc"])))
            fix = next(((at, value) for at, value in options if at not in before), None)
            if fix is None:
                return None
            fixes[fix[0]] = fix[1]
        work = _apply(work, fixes)
        broken |= fixes.keys()
        try:
            runbook = Runbook.model_validate(work, context=AT_LOAD)
        except ValidationError as exc:
            error = exc
            continue
        every = Gaps(frozenset(broken))
        outermost = frozenset(at for at in broken if at[:-1] not in every)
        return runbook, Gaps(outermost, _ids_as_written(data))
    return None


def data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """A pydantic error location without the names of union members and validators."""
    out: list[str | int] = []
    for part in loc:
        found, inner = child(data, part)
        if found:
            data = inner
        elif isinstance(part, str) and ("[" in part or part[:1].isupper() or part in _TYPES):
            continue  # a union member's name ("Goto", "function-after[...]"), not data
        else:
            data = None
        out.append(part)
    return tuple(out)


_TYPES = {"str", "int", "float", "bool", "none", "list", "dict"}


def _ids_as_written(data: dict[str, Any]) -> tuple[str | None, ...]:
    steps = data.get("steps")
    return tuple(
        s.get("id") if isinstance(s, dict) and isinstance(s.get("id"), str) else None
        for s in (steps if isinstance(steps, list) else [])
    )


# ---- what to put where a value is broken ----------------------------------------------


class _Drop:
    """Remove the key, so the field's default applies."""


_DROP = _Drop()

_NOTE = {"action": "note"}
# Neutral values for required fields: a `communicate` step stands anywhere in the phase
# order, and a `note` is the plainest action. A required field without one is set aside
# with the model holding it.
_STAND_INS: dict[tuple[type[BaseModel], str], Any] = {
    (Runbook, "name"): "unparsed",
    (Runbook, "title"): "unparsed",
    (Runbook, "steps"): [{"id": "unparsed", "phase": "communicate", **_NOTE}],
    (Step, "id"): "unparsed",
    (Step, "phase"): "communicate",
    (ActionRef, "action"): _NOTE["action"],
    (Escalation, "acknowledge_within"): "15m",
    (Escalation, "levels"): [{"notify": [_NOTE]}],
    (EscalationLevel, "notify"): [_NOTE],
}


def _stand_in(model: type[BaseModel], field: str) -> Any:
    """The value that sets aside `model.field` (_DROP for an optional field), or None."""
    if not model.model_fields[field].is_required():
        return _DROP
    return next((_STAND_INS[(m, field)] for m in model.__mro__ if (m, field) in _STAND_INS), None)


def _item_stand_in(model: type[BaseModel]) -> dict[str, Any] | None:
    """A mapping that validates as `model`: its required fields' stand-ins, or None."""
    item: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            value = _stand_in(model, name)
            if value is None:
                return None
            item[info.alias or name] = value
    return item


def _fixes(loc: Loc) -> list[tuple[Loc, Any]]:
    """Ways to set aside the broken value at `loc`, smallest first: a place and what to put
    there. Each is a whole field of a model (or an item of a list or mapping of models), so a
    stand-in never leaves half a value behind."""
    options: list[tuple[Loc, Any]] = []
    model: type[BaseModel] = Runbook
    i = 0
    while i < len(loc):
        field = _field_named(model, loc[i])
        if field is None:  # an unknown key
            options.append((loc[: i + 1], _DROP))
            break
        options.append((loc[: i + 1], _stand_in(model, field)))
        kind, inner = _inner_model(model.model_fields[field].annotation)
        if inner is None:
            break
        if kind == "model":
            model, i = inner, i + 1
            continue
        if i + 1 == len(loc):
            break
        options.append((loc[: i + 2], _item_stand_in(inner)))
        model, i = inner, i + 2
    return [(at, value) for at, value in reversed(options) if value is not None]


def _field_named(model: type[BaseModel], key: str | int) -> str | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name
    return None


def _inner_model(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """("model", M) for M or M | None, ("items", M) for list[M] or dict[K, M], else none."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _inner_model(args[0])
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1 and _is_model(members[0]):
            return "model", members[0]
        return "", None
    if _is_model(annotation):
        return "model", annotation
    if origin in (list, dict) and args and _is_model(args[-1]):
        return "items", args[-1]
    return "", None


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _apply(data: Any, fixes: dict[Loc, Any]) -> Any:
    """`data` with each fix made: a value put at its place, or its key removed (_DROP); a fix
    replaces the fixes inside it. Containers on the way are copied once, never changed, so the
    caller's data stays as read."""
    if () in fixes:
        return fixes[()]
    inner: dict[str | int, dict[Loc, Any]] = {}
    for at, value in fixes.items():
        inner.setdefault(at[0], {})[at[1:]] = value
    if isinstance(data, dict):
        out = dict(data)
        for key, below in inner.items():
            if below.get(()) is _DROP:
                out.pop(key, None)
            elif isinstance(key, str) and (key in out or () in below):
                out[key] = _apply(out.get(key), below)
        return out
    if isinstance(data, list):
        items = list(data)
        for index, below in inner.items():
            if isinstance(index, int) and 0 <= index < len(items) and below.get(()) is not _DROP:
                items[index] = _apply(items[index], below)  # an item is replaced, never dropped
        return items
    return data
