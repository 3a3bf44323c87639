"""Every HTTP-based action kind reads its answer with the same cap: a body declared over the
limit, and a chunked body that never ends, both fail at once with the non-retryable
`warroom.ResponseTooLarge`, and the endless one is cut (the client hangs up)."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.http import MAX_RESPONSE_BYTES, http_request
from activities.http_wait import http_wait
from activities.webhook import webhook_post
from tests.activities import test_pagerduty, test_prometheus, test_slack, test_statuspage
from tests.activities.actions import HttpTarget, failure
from tests.activities.test_http_limits import SAFETY_STOP, EndlessServer
from tests.fakehttp import FakeHttp, Reply

HTTP_REQUEST = HttpTarget(
    fn=http_request,
    method="GET",
    path="/stats",
    params=lambda base: {"url": f"{base}/stats"},
    ok=Reply(200, {"error_rate": 0.2}),
    refused=Reply(404, {"error": "no such service"}),
    refused_type="warroom.HttpStatusError",
)
WEBHOOK = HttpTarget(
    fn=webhook_post,
    method="POST",
    path="/hook",
    params=lambda base: {"url": f"{base}/hook", "text": "hi"},
    ok=Reply(200, {}),
    refused=Reply(403, {"error": "forbidden"}),
    refused_type="warroom.HttpStatusError",
)
HTTP_WAIT = HttpTarget(
    fn=http_wait,
    method="GET",
    path="/health",
    params=lambda base: {"url": f"{base}/health", "condition": "status == 200", "interval": "1s"},
    ok=Reply(200, {"ok": True}),
    refused=Reply(404, {"error": "no such endpoint"}),
    refused_type="warroom.HttpStatusError",
)
TARGETS = {
    "http.request": HTTP_REQUEST,
    "webhook.post": WEBHOOK,
    "http.wait": HTTP_WAIT,
    "prometheus.query": test_prometheus.TARGET,
    "slack.post-webhook": test_slack.WEBHOOK,
    "slack.post-api": test_slack.API,
    "pagerduty.event": test_pagerduty.TARGET,
    "statuspage.update": test_statuspage.TARGET,
}


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets the borrowed targets' steps use, as their own modules set them."""
    monkeypatch.setenv("WARROOM_SECRET_SLACK_TOKEN", test_slack.TOKEN)
    monkeypatch.setenv("WARROOM_SECRET_PD_KEY", test_pagerduty.ROUTING_KEY)
    monkeypatch.setenv("WARROOM_SECRET_STATUSPAGE_KEY", test_statuspage.API_KEY)


every_kind = pytest.mark.parametrize("target", list(TARGETS.values()), ids=list(TARGETS))


def assert_too_large(err: ApplicationError) -> None:
    assert (err.type, err.non_retryable) == ("warroom.ResponseTooLarge", True), err


@every_kind
async def test_an_answer_over_the_limit_is_response_too_large(
    target: HttpTarget, fake_http: FakeHttp
):
    # The status the service answers on success, so only the size is wrong.
    fake_http.routes[(target.method, target.path)] = Reply(
        target.ok.status, "y" * (MAX_RESPONSE_BYTES + 10)
    )
    err = await failure(target.fn, target.params(fake_http.url))
    assert_too_large(err)
    assert len(fake_http.calls(target.method, target.path)) == 1


@every_kind
async def test_an_endless_answer_is_cut_with_response_too_large(target: HttpTarget):
    with EndlessServer(target.ok.status) as endless:
        err = await failure(target.fn, target.params(endless.url))  # any path: it streams
        assert_too_large(err)
        assert endless.client_hung_up.wait(10)
        assert endless.sent < SAFETY_STOP
