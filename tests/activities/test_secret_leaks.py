"""No form of a secret leaves an action: one test per leak class the hardening pass found
(urlencoded token in an error, URL echo after httpx's own encoding, JSON echo of an
Authorization header, a template error quoting the secret), each against a real loopback echo."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.http import http_request
from activities.webhook import webhook_post
from tests.activities.actions import run_action
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
