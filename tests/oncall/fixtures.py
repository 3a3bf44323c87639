"""Shared test data for on-call tests: a people directory and the issue's example schedule."""

from __future__ import annotations

from warroom.language.oncall import OnCallFile
from warroom.language.oncall_file import parse_oncall
from warroom.language.people import People, Person

NAMES = ("alice", "bob", "carol", "dave", "erin")
PEOPLE = People({n: Person(email=f"{n}@example.com") for n in NAMES})

EXAMPLE = """\
schedules:
  sre-primary:
    timezone: Europe/Berlin
    layers:
      - rotation: {every: 1w, handoff: "mon 09:00", start: 2026-11-30}
        members: [alice, bob, carol]
      - rotation: {every: 1d, handoff: "18:00"}
        members: [dave, erin]
        restrict: {days: [mon, tue, wed, thu, fri], from: "18:00", to: "09:00"}
policies:
  sre-default:
    levels:
      - {notify: [oncall: sre-primary], wait: 5m}
      - {notify: [oncall: sre-primary, person: carol], wait: 10m}
    repeat: 2
"""


def example() -> OnCallFile:
    return parse_oncall(EXAMPLE, "oncall.yaml", PEOPLE)
