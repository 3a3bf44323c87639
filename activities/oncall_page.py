"""Activity `oncall.page`: one level of an escalation policy from oncall.yaml. The people the
level names are resolved now (whoever is on call for a schedule at this moment, overrides
included, asked of the schedule's workflow; a teams.yaml group; a person) and each is paged
through their contact methods in order, a failed or unusable method passed over for the next.
Returns the pages and what comes next (the next level and its wait, or a repeat round)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.oncall_notify import reach
from warroom.contract.oncall import (
    PAGE_ACTIVITY,
    WHO_ACTIVITY,
    OnCallAnswer,
    OnCallAt,
    Page,
    PageInput,
    PageResult,
    WhoInput,
    WhoResult,
    schedule_workflow_id,
)
from warroom.language.loader import load_teams
from warroom.language.oncall import OnCallFile, Policy
from warroom.language.oncall_file import find_oncall, load_oncall, oncall_people
from warroom.language.oncall_time import who_is_on_call
from warroom.language.teams import teams_path


class Pager:
    """Needs a Temporal client: it asks the schedules' workflows who is on call."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def activities(self) -> list[Callable[..., Any]]:
        return [self.page, self.who]

    @activity.defn(name=PAGE_ACTIVITY)
    async def page(self, inp: PageInput) -> PageResult:
        path = find_oncall()
        oncall = load_oncall(path)
        policy = oncall.policies.get(inp.policy)
        if policy is None or not 1 <= inp.level <= len(policy.levels):
            known = ", ".join(sorted(oncall.policies)) or "none"
            raise ApplicationError(
                f"no escalation policy {inp.policy!r} (level {inp.level}) in oncall.yaml; "
                f"policies: {known}",
                type="warroom.UnknownPolicy",
                non_retryable=True,
            )
        teams = _teams(path)
        people = oncall_people()
        result = _next(policy, inp.level, inp.round)
        for target in policy.levels[inp.level - 1].notify:
            if target.oncall is not None:
                answer = await self._on_call(target.oncall, oncall, inp.at)
                if answer.who is None:
                    result.nobody.append(target.oncall)
                    continue
                override = answer.override.id if answer.override else None
                found = [
                    Page(
                        person=answer.who,
                        level=inp.level,
                        schedule=target.oncall,
                        override=override,
                    )
                ]
            elif target.group is not None:
                members = teams.get(target.group, [])
                found = [Page(person=m, level=inp.level, group=target.group) for m in members]
            else:
                assert target.person is not None
                found = [Page(person=target.person, level=inp.level)]
            for page in found:
                if any(p.person == page.person for p in result.pages):
                    continue  # paged once per level, whatever named them
                key = f"{inp.incident_id}:{inp.round}:{inp.level}:{page.person}"
                method, skipped = await reach(
                    page.person,
                    people,
                    (inp.subject, inp.text, key),
                    schedule=page.schedule or inp.policy,
                    keep_trying=True,
                    acknowledge=inp.incident_id,
                )
                result.pages.append(page.model_copy(update={"method": method, "skipped": skipped}))
        return result

    @activity.defn(name=WHO_ACTIVITY)
    async def who(self, inp: WhoInput) -> WhoResult:
        """Who is on call for each schedule at `inp.at` (approvers `oncall:SCHEDULE`)."""
        oncall = load_oncall(find_oncall())
        people = {s: (await self._on_call(s, oncall, inp.at)).who for s in inp.schedules}
        return WhoResult(people=people)

    async def _on_call(self, schedule: str, oncall: OnCallFile, now: datetime) -> OnCallAnswer:
        """Who is on call at `now`: the schedule's workflow knows the overrides; without it
        running, the rotation of oncall.yaml answers (no overrides)."""
        handle = self.client.get_workflow_handle(schedule_workflow_id(schedule))
        try:
            answer: OnCallAnswer = await handle.query(
                "who_is_on_call", OnCallAt(at=now), result_type=OnCallAnswer
            )
            return answer
        except RPCError:
            plan = oncall.schedules.get(schedule)
            who = who_is_on_call(plan, [], now).who if plan else None
            return OnCallAnswer(schedule=schedule, at=now, who=who)


def _teams(oncall_file: Path | None) -> dict[str, list[str]]:
    """teams.yaml beside the on-call file (or $WARROOM_TEAMS); none: no groups."""
    path = teams_path(oncall_file)
    return load_teams(path) if path else {}


def _next(policy: Policy, level: int, round_: int) -> PageResult:
    """After `level` of round `round_`: the next level and the wait before it, or the first
    level again (after its own wait) while repeats remain, or nothing."""
    if level < len(policy.levels):
        return PageResult(
            next_level=level + 1, next_round=round_, next_wait=policy.levels[level].wait
        )
    if round_ < policy.repeat:
        return PageResult(next_level=1, next_round=round_ + 1, next_wait=policy.levels[0].wait)
    return PageResult()
