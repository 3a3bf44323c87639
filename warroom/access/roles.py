"""Who may do what: every face asks `require` before it acts, with the caller's `Principal`.

Roles are ordered: a `viewer` reads incidents, timelines, postmortems and on-call; a
`responder` also declares, decides, notes and acknowledges; an `admin` may also do what needs
more (schedules for everyone). Runbook approver lists still decide who may approve a step:
roles decide who may do anything at all. A token with the `alerts` scope may only send alerts
(a leaked Alertmanager token cannot approve).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from warroom.access import audit
from warroom.errors import WarroomError
from warroom.language.oncall import Override
from warroom.language.people import People


class Role(IntEnum):
    viewer = 1
    responder = 2
    admin = 3


#: The one scope a token may carry instead of a role.
Scope = Literal["alerts"]
ALERTS: Scope = "alerts"
#: How a principal authenticated: `oidc`, `token:<identity>`, `session` (a name given on
#: loopback), `slack`, `loopback` (the API without tokens).
Via = str


@dataclass(frozen=True)
class Principal:
    identity: str
    role: Role | None
    via: Via
    #: Set for a token that may do one thing only (`alerts`); then `role` is None.
    scope: Scope | None = None


class RoleRequired(WarroomError):
    """The principal lacks the role (or scope) the action needs: 403, naming it."""

    def __init__(self, message: str, *, needed: str) -> None:
        super().__init__(message)
        self.needed = needed


def require(principal: Principal, needed: Role, action: str) -> Principal:
    """`principal` if it may do `action` (which needs `needed`); else RoleRequired, audited."""
    if principal.role is not None and principal.role >= needed:
        return principal
    if principal.scope is not None:
        problem = f"{action} needs the {needed.name} role: this token has the {principal.scope} scope only"
    else:
        has = principal.role.name if principal.role else "no role"
        problem = f"{action} needs the {needed.name} role; {principal.identity} is a {has}"
    audit.refused(principal.identity, principal.via, action, needed.name)
    raise RoleRequired(problem, needed=needed.name)


def require_scope(principal: Principal, scope: Scope, action: str) -> Principal:
    """`principal` if it carries `scope`, or is a responder or more (today's tokens send alerts
    too); else RoleRequired, audited."""
    if principal.scope == scope or (
        principal.role is not None and principal.role >= Role.responder
    ):
        return principal
    audit.refused(principal.identity, principal.via, action, f"{scope} scope")
    raise RoleRequired(
        f"{action} needs a token with the {scope} scope (or the responder role)", needed=scope
    )


def role_named(name: str) -> Role:
    try:
        return Role[name]
    except KeyError:
        raise WarroomError(
            f"unknown role {name!r}: use one of {', '.join(r.name for r in Role)}"
        ) from None


def may_override(principal: Principal, who: str) -> Principal:
    """An on-call override: a responder may put themselves on call (take a shift), an admin
    may put anyone on call. RoleRequired (audited) otherwise."""
    if principal.identity == who:
        return require(principal, Role.responder, "an override putting yourself on call")
    return require(principal, Role.admin, f"an override putting {who} on call")


def may_cancel_override(principal: Principal, override: Override) -> Principal:
    """Cancelling an on-call override: a responder may cancel one that put them on call or
    that they made, an admin any. RoleRequired (audited) otherwise."""
    if principal.identity == override.who:
        return require(principal, Role.responder, "cancelling an override that put you on call")
    if principal.identity == override.by:
        return require(principal, Role.responder, "cancelling an override you made")
    return require(
        principal,
        Role.admin,
        f"cancelling override {override.id} (it put {override.who} on call; {override.by} made it)",
    )


def chat_principal(people: People, name: str | None) -> Principal | None:
    """Someone people.yaml knows, as chat (Slack) authenticates them, with the role it gives
    them (responder unless it says); None for someone it does not know (who may only read)."""
    person = people.get(name) if name else None
    if name is None or person is None:
        return None
    return Principal(identity=name, role=Role[person.role], via="slack")
