"""prometheus.query and prometheus.wait against a real Prometheus scraping a target the test
controls; HTTP failure modes against a loopback fake of its API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.prometheus import prometheus_query, prometheus_wait
from tests.activities.actions import (
    FAILURE_MODES,
    FailureMode,
    HttpTarget,
    action_input,
    activity_env,
    failure,
    run,
    run_action,
)
from tests.activities.promserver import METRIC, Prometheus, running_prometheus
from tests.fakehttp import FakeHttp, Reply
from warroom.entry.devstack import free_port


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as prom:
        prom.set("search", 0.0)
        yield prom


async def test_query_returns_the_vector_with_labels(prometheus: Prometheus):
    await asyncio.to_thread(prometheus.set, "checkout", 0.25)
    result = await run(prometheus_query, {"url": prometheus.url, "query": f"{METRIC} > 0"})
    assert result.result_type == "vector"
    (sample,) = result.samples
    assert sample.value == 0.25
    assert sample.labels["service"] == "checkout"
    assert sample.labels["job"] == "target"
    assert result.value == 0.25


async def test_query_returns_a_scalar(prometheus: Prometheus):
    result = await run(prometheus_query, {"url": prometheus.url, "query": "scalar(vector(3)) * 2"})
    assert result.result_type == "scalar"
    assert result.value == 6.0
    assert result.samples[0].labels == {}


async def test_several_series_have_no_single_value(prometheus: Prometheus):
    result = await run(prometheus_query, {"url": prometheus.url, "query": METRIC})
    assert len(result.samples) >= 2
    assert result.value is None


async def test_base_url_comes_from_the_worker_environment(
    prometheus: Prometheus, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_PROMETHEUS_URL", prometheus.url)
    result = await run(prometheus_query, {"query": "vector(1)"})
    assert result.value == 1.0


async def test_no_url_anywhere_is_a_params_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("WARROOM_PROMETHEUS_URL", raising=False)
    err = await failure(prometheus_query, {"query": "vector(1)"})
    assert err.type == "warroom.ActionParamsError"
    assert "WARROOM_PROMETHEUS_URL" in err.message


async def test_bad_promql_is_non_retryable_with_prometheus_message(prometheus: Prometheus):
    err = await failure(prometheus_query, {"url": prometheus.url, "query": "sum(rate(x[5m]"})
    assert err.type == "warroom.PrometheusError"
    assert err.non_retryable
    assert "Prometheus refused the query (bad_data)" in err.message
    assert "parse error" in err.message


async def test_unreachable_prometheus_is_retryable():
    err = await failure(prometheus_query, {"url": f"http://127.0.0.1:{free_port()}", "query": "up"})
    assert err.type == "warroom.HttpTransportError"
    assert not err.non_retryable


async def test_wait_returns_once_every_series_holds_for_hold_for(prometheus: Prometheus):
    await asyncio.to_thread(prometheus.set, "checkout", 0.2)
    env = activity_env()
    checked = asyncio.Event()
    env.on_heartbeat = lambda *d: checked.set() if d[0]["checks"] else None
    params = {
        "url": prometheus.url,
        "query": METRIC,
        "condition": "< 0.01",
        "hold_for": 2,
        "interval": "200ms",
        "timeout": "2m",
    }
    wait = asyncio.create_task(run_action(prometheus_wait, action_input(params), env))
    await asyncio.wait_for(checked.wait(), 60)
    assert not wait.done()  # checkout's 0.2 keeps the condition from holding
    await asyncio.to_thread(prometheus.set, "checkout", 0.001)
    result = await asyncio.wait_for(wait, 120)
    assert sorted(result.value) == [0.0, 0.001]
    assert result.checks >= 3


async def test_wait_on_an_empty_result_never_holds(prometheus: Prometheus):
    params = {
        "url": prometheus.url,
        "query": "no_such_metric",
        "condition": "== 0",
        "interval": "10ms",
        "timeout": "100ms",
    }
    err = await failure(prometheus_wait, params)
    assert err.type == "warroom.WaitTimedOut"
    assert "last value: []" in err.message


async def test_wait_on_bad_promql_fails_at_once(prometheus: Prometheus):
    params = {"url": prometheus.url, "query": "rate(", "condition": "< 1", "interval": "10ms"}
    err = await failure(prometheus_wait, params)
    assert err.type == "warroom.PrometheusError"
    assert err.non_retryable


TARGET = HttpTarget(
    fn=prometheus_query,
    method="GET",
    path="/api/v1/query?query=up",
    params=lambda base: {"url": base, "query": "up"},
    ok=Reply(200, {"status": "success", "data": {"resultType": "vector", "result": []}}),
    refused=Reply(400, {"status": "error", "errorType": "bad_data", "error": "parse error"}),
    refused_type="warroom.PrometheusError",
)


@pytest.mark.parametrize("mode", FAILURE_MODES, ids=lambda m: m.__name__)
async def test_failure_modes(mode: FailureMode, fake_http: FakeHttp, time_env: WorkflowEnvironment):
    await mode(TARGET, fake_http, time_env)


def test_the_fixture_runs_the_debian_binary(prometheus: Prometheus):
    assert prometheus.query("up")[0]["value"][1] == "1"
