"""The runbook catalogue a process serves, and which runbook an alert opens: the runbooks'
`match` rules, most specific first, else a fallback.

The rule (also in the README): a runbook matches when every one of its `match` matchers holds
for the alert's labels. Among the runbooks that match, the one with the most matchers wins; a
tie goes to the one with more exact (`=`) matchers, then to the runbook name that sorts first.
An alert that matches nothing, or whose labels do not fit the winner's params, opens the
fallback runbook (`general` unless configured): an alert is never dropped.

Params: a label whose name is one of the runbook's declared params supplies that param (other
labels never do); the param's type and `required` apply as for `warroom declare --param`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warroom.errors import ParamsError, WarroomError
from warroom.language.loader import catalogue, load_teams_for
from warroom.language.params import coerce_params
from warroom.language.runbook import Runbook
from warroom.language.teams import Teams

#: The runbook an alert opens when no other matches (the generic hand-declared one).
DEFAULT_FALLBACK = "general"


@dataclass(frozen=True)
class Entry:
    """A runbook of the catalogue with the teams its `group:` approvers resolve against."""

    runbook: Runbook
    teams: Teams | None = None
    path: Path | None = None


@dataclass(frozen=True)
class Route:
    """Where an alert goes: the runbook, its teams, the params its labels give."""

    entry: Entry
    params: dict[str, Any] = field(default_factory=dict)
    #: Why the fallback was taken ("no runbook matches", or the winner's params problem).
    fallback_reason: str | None = None

    @property
    def runbook(self) -> Runbook:
        return self.entry.runbook


def params_from_labels(runbook: Runbook, labels: Mapping[str, str]) -> dict[str, Any]:
    """The runbook's params an alert gives: each label named as a param (raises ParamsError
    when a required one is missing or a value does not fit)."""
    given = {name: labels[name] for name in runbook.params if name in labels}
    return coerce_params(runbook.params, given)


def specificity(runbook: Runbook) -> tuple[int, int]:
    """More matchers first; among equals, more exact (`=`) matchers first."""
    matchers = runbook.matchers
    return (len(matchers), sum(1 for m in matchers if m.op == "="))


class Catalogue:
    """The runbooks alerts can open, by name, with the fallback."""

    def __init__(self, entries: Iterable[Entry], fallback: str = DEFAULT_FALLBACK) -> None:
        self.entries: dict[str, Entry] = {}
        for entry in entries:
            self.entries.setdefault(entry.runbook.name, entry)  # the first one found wins
        if fallback not in self.entries:
            known = ", ".join(sorted(self.entries)) or "none"
            raise WarroomError(
                f"fallback runbook {fallback!r} not found (runbooks found: {known}): "
                "alerts that match no runbook need one"
            )
        self.fallback = fallback
        try:
            self._fallback_params = coerce_params(self.entries[fallback].runbook.params, {})
        except ParamsError as exc:
            raise WarroomError(
                f"fallback runbook {fallback!r} has required params, which alerts cannot give: {exc}"
            ) from None
        # Most specific first; the name breaks ties, so the order never depends on the disk.
        self._by_specificity = sorted(
            (e for e in self.entries.values() if e.runbook.match),
            key=lambda e: (tuple(-n for n in specificity(e.runbook)), e.runbook.name),
        )

    @classmethod
    def load(cls, fallback: str = DEFAULT_FALLBACK) -> Catalogue:
        """Every valid runbook `--runbook NAME` can find (search order: a name found first
        wins); invalid files are skipped (`warroom runbooks validate` reports them)."""
        return cls(
            (
                Entry(rb, load_teams_for(path), path)
                for path, rb in catalogue()
                if isinstance(rb, Runbook)
            ),
            fallback,
        )

    def route(self, labels: Mapping[str, str]) -> Route:
        """The runbook an alert with these labels opens (see the module docstring)."""
        winner = next((e for e in self._by_specificity if e.runbook.matches(labels)), None)
        if winner is None:
            return self._fallback_route("no runbook matches")
        try:
            return Route(winner, params_from_labels(winner.runbook, labels))
        except ParamsError as exc:
            reason = f"runbook {winner.runbook.name} matches but its params do not fit: {exc}"
            return self._fallback_route(reason)

    def _fallback_route(self, reason: str) -> Route:
        return Route(self.entries[self.fallback], dict(self._fallback_params), reason)
