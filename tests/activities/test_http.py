"""http.request and webhook.post, called directly (real HTTP to a loopback fake): templates,
secrets, expected statuses, and the typed errors the workflow's retry policies depend on."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http import http_request
from activities.webhook import webhook_post
from tests.activities.actions import run_action
from tests.fakehttp import FakeHttp, Reply
from tests.secretforms import HEADER_SECRET
from warroom.contract.models import ActionInput
from warroom.entry.devstack import free_port

TOKEN = "s3cr3t-token-9f8e7d"


def action_input(params: dict[str, Any], context: dict[str, Any] | None = None) -> ActionInput:
    return ActionInput(incident_id="inc-test", step="s", params=params, context=context or {})


async def run(fn: Any, params: dict[str, Any], context: dict[str, Any] | None = None) -> Any:
    return await run_action(fn, action_input(params, context))


async def failure(fn: Any, params: dict[str, Any]) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await run(fn, params)
    return info.value


async def test_get_returns_status_and_json(fake_http: FakeHttp):
    fake_http.routes[("GET", "/stats")] = Reply(200, {"version": "v42", "rate": 0.2})
    result = await run(http_request, {"url": f"{fake_http.url}/stats"})
    assert result.status == 200
    assert result.body == {"version": "v42", "rate": 0.2}
    assert result.model_dump(by_alias=True)["json"] == {"version": "v42", "rate": 0.2}
    assert result.attempt == 1
    assert [r.method for r in fake_http.requests] == ["GET"]


async def test_templates_render_from_context_in_url_headers_and_json(fake_http: FakeHttp):
    fake_http.routes[("POST", "/deploys/checkout/rollback")] = Reply(202, {"ok": True})
    context = {
        "incident": {"incident_id": "inc-42", "title": "Checkout down"},
        "steps": {"measure-impact": {"json": {"version": "v42", "previous_version": "v41"}}},
    }
    result = await run(
        http_request,
        {
            "method": "post",
            "url": fake_http.url + "/deploys/{{ incident.title.split()[0] | lower }}/rollback",
            "headers": {"X-Incident": "{{ incident.incident_id }}"},
            "json": {
                "from": "{{ steps['measure-impact'].json.version }}",
                "to": "{{ steps['measure-impact'].json.previous_version }}",
                "fixed": 7,
                "list": ["{{ incident.incident_id }}", "plain"],
            },
        },
        context,
    )
    assert result.status == 202
    (call,) = fake_http.calls("POST", "/deploys/checkout/rollback")
    assert call.headers["X-Incident"] == "inc-42"
    assert call.body == {"from": "v42", "to": "v41", "fixed": 7, "list": ["inc-42", "plain"]}


async def test_context_data_is_never_rendered_as_a_template(fake_http: FakeHttp):
    fake_http.routes[("POST", "/echo")] = Reply(200, {})
    context = {"incident": {"title": "{{ secret.TOKEN }}"}}
    await run(
        http_request,
        {"method": "POST", "url": f"{fake_http.url}/echo", "json": {"t": "{{ incident.title }}"}},
        context,
    )
    assert fake_http.calls("POST", "/echo")[0].body == {"t": "{{ secret.TOKEN }}"}


async def test_secret_resolved_from_environment_and_scrubbed_from_result(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", TOKEN)
    fake_http.routes[("GET", f"/hook/{TOKEN}")] = Reply(200, {"echo": f"you sent {TOKEN}"})
    result = await run(
        http_request,
        {
            "url": fake_http.url + "/hook/{{ secret.TOKEN }}",
            "headers": {"Authorization": "Bearer {{ secret['TOKEN'] }}"},
        },
    )
    (call,) = fake_http.requests
    assert call.path == f"/hook/{TOKEN}"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    # What goes back into workflow history never carries the secret value.
    assert result.body == {"echo": "you sent ***"}
    assert TOKEN not in result.model_dump_json()


async def test_non_json_body_is_returned_as_text(fake_http: FakeHttp):
    fake_http.routes[("GET", "/plain")] = lambda rec: Reply(200, None)
    result = await run(http_request, {"url": f"{fake_http.url}/plain"})
    assert result.status == 200
    assert result.body is None


async def test_expect_status_accepts_a_listed_non_2xx(fake_http: FakeHttp):
    # unrouted paths answer 404
    result = await run(http_request, {"url": f"{fake_http.url}/gone", "expect_status": 404})
    assert result.status == 404


async def test_expect_status_refuses_an_unlisted_2xx(fake_http: FakeHttp):
    fake_http.routes[("GET", "/health")] = Reply(204)
    err = await failure(http_request, {"url": f"{fake_http.url}/health", "expect_status": [200]})
    assert err.type == "warroom.HttpStatusError"
    assert "answered 204 (expected 200)" in err.message
    assert err.non_retryable


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
async def test_retryable_status_raises_retryable_status_error(fake_http: FakeHttp, status: int):
    fake_http.routes[("POST", "/x")] = Reply(status, {"error": "busy"})
    err = await failure(http_request, {"method": "POST", "url": f"{fake_http.url}/x"})
    assert err.type == "warroom.HttpStatusError"
    assert not err.non_retryable
    assert f"POST {fake_http.url}/x answered {status} (expected 2xx)" in err.message
    assert '"busy"' in err.message  # the start of the body helps the human
    assert err.details == ({"attempt": 1},)
    assert err.next_retry_delay is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_client_error_status_is_not_retryable(fake_http: FakeHttp, status: int):
    fake_http.routes[("POST", "/x")] = Reply(status, {"error": "nope"})
    err = await failure(http_request, {"method": "POST", "url": f"{fake_http.url}/x"})
    assert err.type == "warroom.HttpStatusError"
    assert err.non_retryable
    assert f"answered {status}" in err.message


async def test_retry_after_is_honoured_as_next_retry_delay(fake_http: FakeHttp):
    fake_http.routes[("GET", "/limited")] = Reply(429, {}, {"Retry-After": "17"})
    err = await failure(http_request, {"url": f"{fake_http.url}/limited"})
    assert err.type == "warroom.HttpStatusError"
    assert not err.non_retryable
    assert err.next_retry_delay == timedelta(seconds=17)


async def test_connection_refused_is_retryable_transport_error():
    url = f"http://127.0.0.1:{free_port()}/x"
    err = await failure(http_request, {"url": url})
    assert err.type == "warroom.HttpTransportError"
    assert not err.non_retryable
    assert f"GET {url} failed: ConnectError" in err.message


async def test_missing_secret_is_non_retryable_and_names_the_variable(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("WARROOM_SECRET_DEPLOY_TOKEN", raising=False)
    err = await failure(
        http_request,
        {"url": fake_http.url + "/x", "headers": {"Authorization": "{{ secret.DEPLOY_TOKEN }}"}},
    )
    assert err.type == "warroom.SecretMissing"
    assert err.non_retryable
    assert "WARROOM_SECRET_DEPLOY_TOKEN" in err.message
    assert fake_http.requests == []  # nothing was sent


async def test_error_messages_have_secret_values_scrubbed(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", TOKEN)
    fake_http.routes[("POST", f"/hook/{TOKEN}")] = Reply(403, {"error": f"bad token {TOKEN}"})
    err = await failure(
        http_request, {"method": "POST", "url": fake_http.url + "/hook/{{ secret.TOKEN }}"}
    )
    assert err.type == "warroom.HttpStatusError"
    assert TOKEN not in err.message
    assert f"POST {fake_http.url}/hook/*** answered 403" in err.message
    assert "bad token ***" in err.message
    assert fake_http.requests[0].path == f"/hook/{TOKEN}"  # the real value was sent


@pytest.mark.parametrize("offset", [0, 5, len(TOKEN) - 1])
async def test_secret_cut_by_truncation_is_still_scrubbed(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch, offset: int
):
    """Remote text is scrubbed before it is clipped, so no piece of a secret survives the cut."""
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", TOKEN)
    # The error message keeps about 200 characters of the body; put the token across that edge.
    body = "x" * (200 - offset - len('"')) + TOKEN + "y" * 50
    fake_http.routes[("GET", "/t")] = Reply(500, body)
    err = await failure(
        http_request, {"url": fake_http.url + "/t", "headers": {"X-T": "{{ secret.TOKEN }}"}}
    )
    assert not any(TOKEN[:n] in err.message for n in range(4, len(TOKEN) + 1))


async def test_malformed_url_is_a_non_retryable_params_error():
    err = await failure(http_request, {"url": "http://[::1/"})
    assert err.type == "warroom.ActionParamsError"
    assert err.non_retryable


async def test_transport_error_message_has_secret_scrubbed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", TOKEN)
    err = await failure(
        http_request, {"url": f"http://127.0.0.1:{free_port()}/" + "{{ secret.TOKEN }}"}
    )
    assert err.type == "warroom.HttpTransportError"
    assert TOKEN not in err.message
    assert "/*** failed" in err.message


async def test_template_error_is_non_retryable(fake_http: FakeHttp):
    err = await failure(http_request, {"url": fake_http.url + "/{{ steps.nope.json.id }}"})
    assert err.type == "warroom.TemplateError"
    assert err.non_retryable
    assert "steps" in err.message


async def test_a_missing_step_result_explains_where_results_come_from(fake_http: FakeHttp):
    with pytest.raises(ApplicationError) as info:
        await run(
            http_request,
            {"url": fake_http.url + "/{{ steps['measure-impact'].json.version }}"},
            {"incident": {}, "steps": {"look": {"status": 200}}},
        )
    err = info.value
    assert "has no attribute 'measure-impact'" in err.message
    assert "steps['ID'] exists once step ID has ended" in err.message


async def test_invalid_rendered_params_are_non_retryable(fake_http: FakeHttp):
    err = await failure(http_request, {"url": "ftp://x.example/", "method": "GET"})
    assert err.type == "warroom.ActionParamsError"
    assert err.non_retryable
    assert "http.request parameters are invalid: url:" in err.message


async def test_attempt_number_is_reported(fake_http: FakeHttp):
    fake_http.routes[("GET", "/a")] = Reply(200, {})
    env = ActivityEnvironment()
    env.info = env.info.__class__(**{**env.info.__dict__, "attempt": 4})
    result = await env.run(http_request, action_input({"url": f"{fake_http.url}/a"}))
    assert result.attempt == 4


# ---- webhook.post ---------------------------------------------------------------------


async def test_webhook_posts_text(fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WARROOM_SECRET_HOOK", "/hooks/T000/B000")
    fake_http.routes[("POST", "/hooks/T000/B000")] = Reply(200, {"ok": True})
    result = await run(
        webhook_post,
        {
            "url": fake_http.url + "{{ secret.HOOK }}",
            "text": "[{{ incident.severity }}] {{ incident.title }}: {{ update.text }}",
            "headers": {"X-Source": "warroom"},
        },
        {"incident": {"severity": "SEV1", "title": "Checkout down"}, "update": {"text": "hi"}},
    )
    assert result.status == 200
    (call,) = fake_http.requests
    assert call.method == "POST"
    assert call.path == "/hooks/T000/B000"
    assert call.body == {"text": "[SEV1] Checkout down: hi"}
    assert call.headers["X-Source"] == "warroom"
    assert {k.lower(): v for k, v in call.headers.items()}["content-type"] == "application/json"


async def test_webhook_5xx_is_retryable(fake_http: FakeHttp):
    fake_http.routes[("POST", "/hook")] = Reply(500, {})
    err = await failure(webhook_post, {"url": f"{fake_http.url}/hook", "text": "x"})
    assert err.type == "warroom.HttpStatusError"
    assert not err.non_retryable


async def test_webhook_refuses_empty_text(fake_http: FakeHttp):
    err = await failure(webhook_post, {"url": f"{fake_http.url}/hook", "text": ""})
    assert err.type == "warroom.ActionParamsError"
    assert err.non_retryable
    assert fake_http.requests == []


async def test_the_steps_idempotency_key_is_sent_unless_the_step_sets_its_own(fake_http: FakeHttp):
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    params = {"method": "POST", "url": f"{fake_http.url}/rollback"}
    keyed = action_input(params).model_copy(update={"idempotency_key": "inc-1:rollback"})
    await run_action(http_request, keyed)
    await run_action(http_request, keyed)  # another attempt of the same step: the same key
    own = {**params, "headers": {"idempotency-key": "mine"}}
    await run_action(http_request, action_input(own).model_copy(update={"idempotency_key": "k"}))
    await run_action(http_request, action_input(params))  # no key (not from a step)
    keys = [
        r.headers.get("Idempotency-Key") or r.headers.get("idempotency-key")
        for r in fake_http.requests
    ]
    assert keys == ["inc-1:rollback", "inc-1:rollback", "mine", None]


async def test_query_raw_body_and_auth_from_parameters(fake_http: FakeHttp):
    fake_http.routes[("POST", "/search?q=shoes+red&limit=5&exact=true")] = Reply(200, {})
    fake_http.routes[("PUT", "/flags/x")] = Reply(200, {})
    await run(
        http_request,
        {
            "method": "POST",
            "url": f"{fake_http.url}/search",
            "query": {"q": "shoes red", "limit": 5, "exact": True},
            "basic_auth": {"username": "deploy", "password": "pa:ss"},
        },
    )
    await run(
        http_request,
        {"method": "PUT", "url": f"{fake_http.url}/flags/x", "body": "on", "bearer": "tok"},
    )
    search, flag = fake_http.requests
    assert search.headers["Authorization"] == "Basic " + base64.b64encode(b"deploy:pa:ss").decode()
    assert (flag.body, flag.headers["Authorization"]) == ("on", "Bearer tok")
    with pytest.raises(ApplicationError) as both:
        await run(http_request, {"url": fake_http.url, "json": {}, "body": "x"})
    assert "give `json` or `body`, not both" in both.value.message


async def test_redirects_are_followed_only_when_asked_and_never_carry_auth_away(
    fake_http: FakeHttp,
):
    with FakeHttp() as elsewhere:
        elsewhere.routes[("GET", "/landing")] = Reply(200, {"there": True})
        fake_http.routes[("GET", "/moved")] = Reply(
            302, None, headers={"Location": f"{elsewhere.url}/landing"}
        )
        params = {"url": f"{fake_http.url}/moved", "bearer": "s3cr3t"}
        refused = await failure(http_request, params)
        assert "answered 302" in refused.message and refused.non_retryable
        followed = await run(http_request, {**params, "follow_redirects": True})
        assert followed.body == {"there": True}
        (arrived,) = elsewhere.requests
        assert "Authorization" not in arrived.headers
        assert fake_http.requests[-1].headers["Authorization"] == "Bearer s3cr3t"


@pytest.mark.parametrize("elsewhere_host", ["127.0.0.1", "localhost"])
async def test_a_redirect_to_another_origin_drops_every_header_that_carries_a_secret(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch, elsewhere_host: str
):
    """Another origin is another scheme, host or port: a second server on another port, or the
    same server under another host name (`localhost` for 127.0.0.1)."""
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", HEADER_SECRET)
    headers = {
        "X-Api-Key": "{{ secret.TOKEN }}",
        "X-Signed": "v1 {{ ('k:' ~ secret.TOKEN) | b64encode }}",  # derived from the secret
        "X-Trace": "trace-7f3a",  # no secret: it follows
    }
    with FakeHttp() as other:
        target = other.url if elsewhere_host == "127.0.0.1" else fake_http.url
        target = target.replace("127.0.0.1", elsewhere_host)
        route = ("GET", "/landing")
        (other if elsewhere_host == "127.0.0.1" else fake_http).routes[route] = Reply(200, {})
        fake_http.routes[("GET", "/moved")] = Reply(302, None, {"Location": f"{target}/landing"})
        params = {"url": f"{fake_http.url}/moved", "headers": headers, "follow_redirects": True}
        result = await run(http_request, {**params, "bearer": "{{ secret.TOKEN }}"})
        arrived = [*fake_http.requests, *other.requests]

    assert result.status == 200
    first, landed = arrived
    assert first.path == "/moved" and landed.path == "/landing"
    assert first.headers["X-Api-Key"] == HEADER_SECRET  # the origin the step named got them
    assert first.headers["Authorization"] == f"Bearer {HEADER_SECRET}"
    assert {"X-Api-Key", "X-Signed", "Authorization"} & set(map(str.title, landed.headers)) == set()
    assert landed.headers["X-Trace"] == "trace-7f3a"


async def test_a_redirect_within_the_origin_keeps_the_secret_headers(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", HEADER_SECRET)
    fake_http.routes[("GET", "/moved")] = Reply(302, None, {"Location": "/landing"})
    fake_http.routes[("GET", "/landing")] = Reply(200, {})
    params = {
        "url": f"{fake_http.url}/moved",
        "headers": {"X-Api-Key": "{{ secret.TOKEN }}"},
        "follow_redirects": True,
    }
    await run(http_request, params)
    assert [r.headers["X-Api-Key"] for r in fake_http.requests] == [HEADER_SECRET] * 2


async def test_a_body_carrying_a_secret_is_not_resent_to_another_origin(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch
):
    """A 307 or 308 re-sends the body: with a secret in it, the redirect is not followed."""
    monkeypatch.setenv("WARROOM_SECRET_TOKEN", HEADER_SECRET)
    with FakeHttp() as other:
        other.routes[("POST", "/landing")] = Reply(200, {})
        fake_http.routes[("POST", "/moved")] = Reply(
            307, None, {"Location": f"{other.url}/landing"}
        )
        params = {
            "method": "POST",
            "url": f"{fake_http.url}/moved",
            "json": {"token": "{{ secret.TOKEN }}"},
            "follow_redirects": True,
        }
        err = await failure(http_request, params)
        assert err.type == "warroom.RedirectRefused" and err.non_retryable
        assert "another origin" in err.message
        assert other.requests == []
        # Without a secret in it, the body follows.
        await run(http_request, {**params, "json": {"token": "public"}})
        assert [r.body for r in other.requests] == [{"token": "public"}]
