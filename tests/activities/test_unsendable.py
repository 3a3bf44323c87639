"""Bad bytes at the edges: a value the protocol it goes to cannot carry (a NUL in a program's
argument, a line break or non-ASCII character in an HTTP header, a lone surrogate) is refused
with a typed, non-retryable error that says what to fix — when the runbook loads if it is
written there, when the step renders it otherwise — and never reaches a library that would
fail with a bare ValueError (which Temporal retries). Non-ASCII SMTP credentials are sent as
UTF-8 over AUTH PLAIN."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.exec import exec_program
from activities.http import http_request, send
from activities.mail import email_send
from activities.slack import slack_post
from tests.activities.actions import action_input, failure, run
from tests.activities.test_email import serve
from tests.activities.test_exec import PY, python
from tests.fakehttp import FakeHttp, Reply
from tests.runbooks.world import LoginMailbox
from warroom.errors import RunbookError, UnsendableValue
from warroom.language.loader import parse_runbook

# ---- exec: NUL cannot be in an argument, an environment entry or a path ------------------


@pytest.fixture(autouse=True)
def allow_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("WARROOM_EXEC_ALLOW", PY)


@pytest.mark.parametrize(
    ("params", "where"),
    [
        (python("print(1)", "a\x00b"), "command.3"),
        (python("print(1)", env={"TOKEN": "x\x00y"}), "env.TOKEN"),
        (python("print(1)", env={"A=B": "x"}), "env.A=B"),
        (python("print(1)", cwd="/tmp\x00/x"), "cwd"),
    ],
    ids=["argument", "env-value", "env-name", "cwd"],
)
async def test_exec_refuses_what_a_program_cannot_be_given(params: dict[str, Any], where: str):
    err = await failure(exec_program, params)
    assert err.type == "warroom.ActionParamsError" and err.non_retryable
    assert where in err.message
    assert "NUL" in err.message or "not an environment variable name" in err.message


async def test_a_nul_rendered_from_incident_data_is_refused_before_anything_starts(
    tmp_path: Path,
):
    marker = tmp_path / "ran"
    params = {"command": [PY, "-c", f"open({str(marker)!r}, 'w')", "{{ title }}"]}
    err = await rendered_failure(exec_program, params, {"title": "checkout\x00down"})
    assert err.type == "warroom.ActionParamsError" and err.non_retryable
    assert "command.3: Value error, contains a NUL character" in err.message
    assert not marker.exists()


async def rendered_failure(fn: Any, params: dict[str, Any], context: dict[str, Any]) -> Any:
    """The failure of `fn` whose templates render over `context`."""
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(fn, action_input(params, context))
    return caught.value


RUNBOOK = """
name: bad-bytes
title: Bad bytes
steps:
  - id: go
    phase: mitigate
    action: ACTION
    with: WITH
"""


def load(action: str, with_: str) -> RunbookError:
    text = RUNBOOK.replace("ACTION", action).replace("WITH", with_)
    with pytest.raises(RunbookError) as caught:
        parse_runbook(textwrap.dedent(text), "bad-bytes.yaml")
    return caught.value


def test_a_nul_written_in_the_runbook_is_refused_when_it_loads():
    err = load("exec", '{command: [kubectl, "roll\\0out"]}')
    assert "bad-bytes.yaml:" in str(err) and "NUL" in str(err)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ('{X-Title: "caf\\u00e9"}', "non-ASCII"),
        ('{X-Note: "two\\nlines"}', "line break"),
        ('{"X Bad": "v"}', "not an HTTP header name"),
    ],
)
def test_a_header_http_cannot_carry_is_refused_when_the_runbook_loads(header: str, problem: str):
    err = load("http.request", f'{{url: "https://example.com", headers: {header}}}')
    assert problem in str(err)


# ---- HTTP headers rendered from data -----------------------------------------------------


@pytest.mark.parametrize(
    ("title", "problem"),
    [
        ("Checkout down\nsince 10:15", "line break"),
        ("Checkout down\r\nX-Injected: 1", "line break"),
        ("Checkout\x00down", "NUL character"),
        ("Caf\u00e9 checkout down", "non-ASCII"),
        ("Checkout \u2713", "non-ASCII"),
    ],
)
async def test_a_header_value_http_cannot_carry_is_a_typed_error_naming_the_header(
    fake_http: FakeHttp, title: str, problem: str
):
    params = {"url": fake_http.url, "headers": {"X-Incident": "{{ title }}"}}
    err = await rendered_failure(http_request, params, {"title": title})
    assert err.type == "warroom.ActionParamsError" and err.non_retryable
    assert "headers.X-Incident" in err.message and problem in err.message
    assert fake_http.requests == []  # nothing half-sent, nothing retried


async def test_a_token_with_a_trailing_newline_is_refused_naming_the_parameter(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch
):
    """A token read from a file keeps its newline: Slack's Authorization header would break."""
    monkeypatch.setenv("WARROOM_SECRET_SLACK", "xoxb-123-abc\n")
    params = {"token": "{{ secret.SLACK }}", "channel": "#inc", "text": "hi"}
    err = await failure(slack_post, {**params, "api_url": fake_http.url})
    assert err.type == "warroom.ActionParamsError" and err.non_retryable
    assert "token" in err.message and "trailing newline" in err.message
    assert "xoxb-123-abc" not in err.message
    assert fake_http.requests == []


async def test_every_header_is_checked_where_it_is_sent(fake_http: FakeHttp):
    """`send` is the one HTTP call of every action: headers an action derives (tokens, keys)
    are checked there too; spaces around a value are not part of it and are stripped."""
    fake_http.routes[("GET", "/")] = Reply(200, {})

    async def call(headers: dict[str, str]) -> Any:
        return await ActivityEnvironment().run(send, "GET", fake_http.url, headers, None, None)

    with pytest.raises(UnsendableValue) as caught:
        await call({"Authorization": "OAuth key\n"})
    assert "header 'Authorization'" in str(caught.value) and "line break" in str(caught.value)
    with pytest.raises(UnsendableValue):
        await call({"X-Key": "caf\u00e9"})
    await call({"X-Padded": "  value\t"})
    assert fake_http.requests[-1].headers["X-Padded"] == "value"


async def test_spaces_around_a_rendered_header_value_are_stripped(fake_http: FakeHttp):
    fake_http.routes[("GET", "/")] = Reply(200, {})
    await run(http_request, {"url": fake_http.url, "headers": {"X-Trace": " abc-123 "}})
    assert fake_http.requests[0].headers["X-Trace"] == "abc-123"


# ---- text that is no text --------------------------------------------------------------


async def test_a_rendered_lone_surrogate_is_refused_before_any_action_runs(fake_http: FakeHttp):
    """`'%c' % 55296` renders half of a UTF-16 pair: no protocol can encode it."""
    fake_http.routes[("POST", "/")] = Reply(200, {})
    err = await failure(
        http_request, {"method": "POST", "url": fake_http.url, "json": {"t": "{{ '%c' % 55296 }}"}}
    )
    assert err.type == "warroom.UnsendableValue" and err.non_retryable
    assert "json.t is not valid text" in err.message
    assert fake_http.requests == []


# ---- SMTP --------------------------------------------------------------------------------

UTF8_PASSWORD = "p\u00e4ssw\u00f6rd-\u2713-\u65e5\u672c"


@pytest.fixture
def login_mailbox() -> Iterator[tuple[LoginMailbox, int]]:
    box = LoginMailbox(username="w\u00e4rroom", password=UTF8_PASSWORD)
    controller = serve(box, authenticator=box.authenticate, auth_require_tls=False)
    yield box, controller.port
    controller.stop()


def mail(port: int, **more: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "from": "warroom@example.com",
        "to": ["oncall@example.com"],
        "subject": "SEV1",
        "text": "hello",
        **more,
    }


async def test_a_non_ascii_password_logs_in_as_utf8_over_auth_plain(
    login_mailbox: tuple[LoginMailbox, int], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_SECRET_SMTP", UTF8_PASSWORD)
    box, port = login_mailbox
    creds = {"username": "w\u00e4rroom", "password": "{{ secret.SMTP }}"}
    await run(email_send, mail(port, **creds))
    assert box.logins == ["w\u00e4rroom"] and len(box.messages) == 1
    # A wrong one is refused by the server as any wrong password is: 535, not retried.
    monkeypatch.setenv("WARROOM_SECRET_SMTP", UTF8_PASSWORD + "x")
    err = await failure(email_send, mail(port, **creds))
    assert err.type == "warroom.SmtpError" and err.non_retryable and "535" in err.message
    assert UTF8_PASSWORD not in err.message


async def test_a_non_ascii_password_for_a_server_without_auth_plain_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("WARROOM_SECRET_SMTP", UTF8_PASSWORD)
    box = LoginMailbox(username="warroom", password=UTF8_PASSWORD)
    controller = serve(
        box,
        authenticator=box.authenticate,
        auth_require_tls=False,
        auth_exclude_mechanism=["PLAIN"],
    )
    try:
        err = await failure(
            email_send,
            mail(controller.port, username="warroom", password="{{ secret.SMTP }}"),
        )
    finally:
        controller.stop()
    assert err.type == "warroom.UnsendableValue" and err.non_retryable
    assert "only AUTH PLAIN carries" in err.message and "LOGIN" in err.message
    assert box.messages == []


async def test_a_line_break_in_a_recipient_is_refused(fake_http: FakeHttp):
    err = await failure(email_send, mail(25, to=["oncall@example.com\nBcc: all@example.com"]))
    assert err.type == "warroom.ActionParamsError" and err.non_retryable
    assert "to.0" in err.message and "line break" in err.message


async def test_a_subject_from_a_multi_line_title_is_one_line(
    login_mailbox: tuple[LoginMailbox, int],
):
    box, port = login_mailbox
    await run(email_send, mail(port, subject="Checkout down\nsince 10:15\r\n"))
    ((_, msg),) = box.messages
    assert msg["Subject"] == "Checkout down since 10:15"


async def test_a_host_name_that_is_no_host_name_is_refused():
    err = await failure(email_send, mail(25, host="smtp..example.com"))
    assert err.type == "warroom.ActionParamsError" and err.non_retryable
    assert "not a valid host name" in err.message
