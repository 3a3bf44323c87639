"""No form of a secret leaves an action: one test per leak class the hardening pass found
(urlencoded token in an error, URL echo after httpx's own encoding, JSON echo of an
Authorization header, a template error quoting the secret, an error message quoting it
upper-cased, reversed or in halves), each against a real loopback peer."""

from __future__ import annotations

import base64
import logging
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from google.protobuf.json_format import MessageToDict
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.http import http_request
from activities.mail import email_send
from activities.pagerduty import pagerduty_event
from activities.webhook import webhook_post
from tests.activities.actions import run_action
from tests.activities.runaction import RunAction
from tests.activities.test_email import Mailbox, serve
from tests.cli.test_secrets_e2e import payload_texts
from tests.fakehttp import FakeHttp, Recorded, Reply
from tests.secretforms import HEADER_SECRET, URL_SECRET, EchoServer, leaks
from warroom.contract.models import ActionInput

SECRETS = [URL_SECRET, HEADER_SECRET]


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[EchoServer]:
    monkeypatch.setenv("WARROOM_SECRET_URL", URL_SECRET)
    monkeypatch.setenv("WARROOM_SECRET_HDR", HEADER_SECRET)
    with EchoServer() as server:
        yield server


async def run(fn: Any, params: dict[str, Any], echo: EchoServer) -> Any:
    inp = ActionInput(incident_id="inc-t", step="s", params=params, context={"echo": echo.url})
    return await run_action(fn, inp)


async def failure(fn: Any, params: dict[str, Any], echo: EchoServer) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await run(fn, params, echo)
    return info.value


def error_texts(err: ApplicationError) -> list[str]:
    return [err.message, str(err), repr(err.details), str(err.__cause__), str(err.__context__)]


async def test_urlencoded_secret_in_a_500_answer_is_scrubbed_from_the_error(echo: EchoServer):
    echo.status = 500
    err = await failure(
        http_request, {"url": "{{ echo }}/q?token={{ secret.URL | urlencode }}"}, echo
    )
    assert err.type == "warroom.HttpStatusError" and "answered 500" in err.message
    assert "/q?token=***" in err.message
    assert leaks(error_texts(err), SECRETS) == []
    (sent,) = echo.requests
    assert urllib.parse.unquote(sent.path.split("token=")[1]) == URL_SECRET  # the real one went out


@pytest.mark.parametrize("status", [200, 503])
async def test_plain_secret_in_a_url_is_scrubbed_after_httpx_encoded_it(
    echo: EchoServer, status: int
):
    echo.status = status
    params = {"url": "{{ echo }}/p/{{ secret.URL }}?q={{ secret.URL }}"}
    if status == 200:
        result = await run(http_request, params, echo)
        texts = [result.model_dump_json(), str(result.model_dump())]
        assert result.body["path"] == "/p/***?q=***"
    else:
        texts = error_texts(await failure(http_request, params, echo))
    assert leaks(texts, SECRETS) == []
    assert urllib.parse.unquote(echo.requests[0].path) == f"/p/{URL_SECRET}?q={URL_SECRET}"


async def test_json_answer_echoing_authorization_headers_is_scrubbed_in_the_result(
    echo: EchoServer,
):
    result = await run(
        http_request,
        {
            "url": "{{ echo }}/who",
            "headers": {
                "Authorization": "Basic {{ ('user:' ~ secret.HDR) | b64encode }}",
                "X-Token": "Bearer {{ secret.HDR }}",
            },
        },
        echo,
    )
    sent = {k.lower(): v for k, v in echo.requests[0].headers.items()}
    basic = base64.b64decode(sent["authorization"].removeprefix("Basic ")).decode()
    assert basic == f"user:{HEADER_SECRET}" and sent["x-token"] == f"Bearer {HEADER_SECRET}"
    echoed = {k.lower(): v for k, v in result.body["headers"].items()}
    assert echoed["authorization"] == "Basic ***" and echoed["x-token"] == "Bearer ***"
    # `raw` holds the same echo JSON-escaped inside a JSON string.
    assert leaks([result.model_dump_json(), str(result.model_dump())], SECRETS) == []


@pytest.mark.parametrize(
    "template",
    [
        "{{ echo }}/{{ steps[secret.URL] }}",  # Undefined's message quotes the key with repr
        "{{ echo }}/{{ secret.URL.encode('ascii') }}",
        "{{ echo }}/{{ secret.HDR | upper }}",
        "{{ echo }}/{{ secret.HDR[:6] }}",
    ],
)
async def test_a_template_error_about_a_secret_never_quotes_it(echo: EchoServer, template: str):
    err = await failure(http_request, {"url": template}, echo)
    assert err.type == "warroom.TemplateError" and err.non_retryable
    assert "is refused" in err.message
    assert leaks(error_texts(err), SECRETS) == []
    assert echo.requests == []


async def test_webhook_results_and_the_http_client_log_are_scrubbed(
    echo: EchoServer, caplog: pytest.LogCaptureFixture
):
    echo.status = 500
    with caplog.at_level(logging.DEBUG):
        err = await failure(
            webhook_post, {"url": "{{ echo }}/hook/{{ secret.URL }}", "text": "hi"}, echo
        )
    assert err.type == "warroom.HttpStatusError"
    assert any("HTTP Request: POST" in r.getMessage() for r in caplog.records)
    assert leaks([caplog.text, *error_texts(err)], SECRETS) == []


# ---- transformed echoes: a hostile (or careless) endpoint quoting what it was sent ----------


def hostile_echo(secret: str) -> str:
    """How an endpoint's error message may quote a credential it refuses: upper- and
    lower-cased, reversed, and cut in two halves."""
    half = len(secret) // 2
    return (
        f"key {secret.upper()} is unknown, did you mean {secret.lower()}? "
        f"(reversed: {secret[::-1]}; starts with {secret[:half]}, ends with {secret[half:]})"
    )


def hostile_pagerduty(rec: Recorded) -> Reply:
    key = rec.body["routing_key"]
    return Reply(
        400,
        {
            "status": "invalid event",
            "message": f"Event object is invalid for {key.swapcase()}",
            "errors": [hostile_echo(key)],
        },
    )


async def test_a_pagerduty_400_quoting_the_routing_key_transformed_leaks_nowhere(
    time_env: WorkflowEnvironment,
    fake_http: FakeHttp,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    """The 400's message is the step's failure: it is what `show`, the timeline and the
    postmortem print, what the worker logs and what the history keeps."""
    monkeypatch.setenv("WARROOM_SECRET_PD", URL_SECRET)
    fake_http.routes[("POST", "/v2/enqueue")] = hostile_pagerduty
    params = {
        "url": f"{fake_http.url}/v2/enqueue",
        "event_action": "trigger",
        "routing_key": "{{ secret.PD }}",
        "summary": "Checkout 5xx",
        "source": "warroom",
        "severity": "critical",
    }
    with caplog.at_level(logging.DEBUG):
        err, history = await failed_on_worker(time_env, pagerduty_event, params)
    (sent,) = fake_http.requests
    assert sent.body["routing_key"] == URL_SECRET  # the real key went out
    assert err.type == "warroom.PagerDutyError" and err.non_retryable
    assert "starts with ***, ends with ***" in err.message
    assert any("Completing activity as failed" in r.getMessage() for r in caplog.records)
    assert leaks([*error_texts(err), *history, caplog.text], [URL_SECRET]) == []


class HostileMailbox(Mailbox):
    """Refuses every login with a 535 that quotes the password it was given, transformed."""

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        password = data.password.decode() if isinstance(data, LoginPassword) else "?"
        message = f"535 5.7.8 Authentication credentials invalid: {hostile_echo(password)}"
        return AuthResult(success=False, handled=False, message=message)


SMTP_SECRET = "sm+/=\"t\\'Pw=mail-pass-3c8d"  # SMTP AUTH through smtplib is ASCII


async def test_an_smtp_535_quoting_the_password_transformed_leaks_nowhere(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("WARROOM_SECRET_SMTP", SMTP_SECRET)
    box = HostileMailbox()
    smtp = serve(box, authenticator=box.authenticate, auth_require_tls=False)
    try:
        with caplog.at_level(logging.DEBUG):
            err = await action_failure(
                email_send,
                {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "username": "warroom",
                    "password": "{{ secret.SMTP }}",
                    "from": "warroom@example.com",
                    "to": ["oncall@example.com"],
                    "subject": "SEV1",
                    "text": "hello",
                },
            )
    finally:
        smtp.stop()
    assert err.type == "warroom.SmtpError" and err.non_retryable
    assert "535" in err.message and "starts with ***, ends with ***" in err.message
    # (aiosmtpd's own log, `mail.log`, is the far side's: it logs what the server sent.)
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
    assert leaks([*error_texts(err), *ours], [SMTP_SECRET]) == []


async def action_failure(fn: Any, params: dict[str, Any]) -> ApplicationError:
    inp = ActionInput(incident_id="inc-t", step="s", params=params, context={})
    with pytest.raises(ApplicationError) as info:
        await run_action(fn, inp)
    return info.value


async def failed_on_worker(
    env: WorkflowEnvironment, fn: Any, params: dict[str, Any]
) -> tuple[ApplicationError, list[str]]:
    """Run the action once under a real worker: its failure, and every string of the history
    (payloads decoded)."""
    queue = f"tq-{uuid.uuid4().hex[:12]}"
    name = fn.__temporal_activity_definition.name
    inp = ActionInput(incident_id="inc-t", step="s", params=params, context={})
    async with Worker(env.client, task_queue=queue, workflows=[RunAction], activities=[fn]):
        handle = await env.client.start_workflow(
            RunAction.run,
            args=[name, inp.model_dump(), 1],
            id=f"wf-{uuid.uuid4().hex[:12]}",
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, ApplicationError)
    history = await handle.fetch_history()
    texts = [t for event in history.events for t in payload_texts(MessageToDict(event))]
    return activity_error.cause, texts
