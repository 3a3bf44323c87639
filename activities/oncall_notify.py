"""Activity `oncall.notify`: tell a person about their shift through their first usable contact
method (people.yaml order), reusing the e-mail, PagerDuty and webhook actions. The person's
addresses are looked up here, on the worker, so they never enter workflow history.

Slack is a direct message to the person's Slack user id (activities/slack_dm.py; a page's has
an Acknowledge button); without `WARROOM_SLACK_BOT_TOKEN` on the worker a `slack` method is
passed over (said in the result) for the next.
E-mail needs `WARROOM_SMTP_HOST` (host or host:port) and `WARROOM_SMTP_FROM` on the worker;
PagerDuty sends a trigger with the routing key held by the secret the person's `pagerduty:`
names (`WARROOM_SECRET_<NAME>`), to `WARROOM_PAGERDUTY_URL` when set (else PagerDuty's).
"""

from __future__ import annotations

import os
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.boundary import ActionFn
from activities.mail import email_send
from activities.pagerduty import pagerduty_event
from activities.slack_api import TOKEN_ENV, configured
from activities.slack_dm import slack_dm
from activities.webhook import webhook_post
from warroom.contract.models import ActionInput
from warroom.contract.oncall import NOTIFY_ACTIVITY, NotifyInput, NotifyResult
from warroom.language.actions import PAGERDUTY_EVENTS_URL
from warroom.language.oncall_file import oncall_people
from warroom.language.people import ContactMethod, People, Person

SLACK_NOT_CONFIGURED = f"{TOKEN_ENV} is not set on the worker"


def contact_params(
    method: ContactMethod,
    person: Person,
    notice: tuple[str, str, str],
    acknowledge: str | None = None,
) -> tuple[ActionFn, dict[str, Any]] | str:
    """The action and its parameters that reach `person` by `method` with `notice` (subject,
    text, idempotency key), or why it cannot; `acknowledge`: the incident a page is for."""
    subject, text, key = notice
    if method == "email" and person.email:
        host, sender = os.environ.get("WARROOM_SMTP_HOST"), os.environ.get("WARROOM_SMTP_FROM")
        if not host or not sender:
            return "WARROOM_SMTP_HOST and WARROOM_SMTP_FROM are not set on the worker"
        name, _, port = host.partition(":")
        params: dict[str, Any] = {"host": name, "from": sender, "to": [person.email]}
        if port:
            params["port"] = int(port)
        return email_send, {**params, "subject": subject, "text": text}
    if method == "pagerduty" and person.pagerduty:
        return pagerduty_event, {
            "event_action": "trigger",
            "routing_key": "{{ secret." + person.pagerduty + " }}",
            "dedup_key": key[:255],
            "summary": f"{subject}: {text}",
            "source": "warroom",
            "severity": "info",
            "url": os.environ.get("WARROOM_PAGERDUTY_URL") or PAGERDUTY_EVENTS_URL,
        }
    if method == "webhook" and person.webhook:
        return webhook_post, {"url": person.webhook, "text": f"{subject}: {text}"}
    if method == "slack" and person.slack:
        if not configured():
            return SLACK_NOT_CONFIGURED
        params = {"user": person.slack, "subject": subject, "text": text}
        return slack_dm, {**params, "acknowledge": acknowledge}
    return f"no {method} address in people.yaml"


async def reach(
    name: str,
    people: People,
    notice: tuple[str, str, str],
    *,
    schedule: str,
    keep_trying: bool,
    acknowledge: str | None = None,
) -> tuple[ContactMethod | None, list[str]]:
    """Send `notice` (subject, text, idempotency key) to `name` through the first usable
    method in their order. With `keep_trying`, a method that fails is noted and the next one
    tried (paging); without, its error is raised for the activity's retry policy (notices).
    A page names the incident it is for (`acknowledge`): a Slack DM has its Acknowledge button.
    Returns the method that worked (None: none did) and the methods passed over, with why."""
    person = people.get(name)
    if person is None:
        raise ApplicationError(
            f"{name} is not in people.yaml: add them with a contact method",
            type="warroom.UnknownPerson",
            non_retryable=True,
        )
    skipped: list[str] = []
    for method in person.methods():
        found = contact_params(method, person, notice, acknowledge)
        if isinstance(found, str):
            skipped.append(f"{method}: {found}")
            continue
        action, params = found
        sent = ActionInput(
            incident_id=activity.info().workflow_id,
            step=f"oncall:{schedule}",
            params=params,
            context={},
            idempotency_key=notice[2],
        )
        try:
            await action(sent)
        except ApplicationError as exc:
            if not keep_trying:
                raise
            skipped.append(f"{method} failed: {exc.message}")
            continue
        return method, skipped
    return None, skipped


@activity.defn(name=NOTIFY_ACTIVITY)
async def oncall_notify(inp: NotifyInput) -> NotifyResult:
    """Send through the first method that can be used; a failure of that method is retried by
    the workflow's retry policy (the same key each time)."""
    method, skipped = await reach(
        inp.person,
        oncall_people(),
        (inp.subject, inp.text, inp.key),
        schedule=inp.schedule,
        keep_trying=False,
    )
    if method is None:
        raise ApplicationError(
            f"{inp.person} has no usable contact method "
            f"({'; '.join(skipped) or 'none in people.yaml'})",
            type="warroom.NoContactMethod",
            non_retryable=True,
        )
    return NotifyResult(method=method, skipped=skipped)
