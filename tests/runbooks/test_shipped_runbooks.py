"""Every shipped runbook played end to end on the time-skipping server: the real workflow and
actions, the outside world (deploy API, flags, search admin, chat) a loopback HTTP peer."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import Handle, finish, paths, start, step, wait_for, worker
from warroom.models import Decision, IncidentState
from warroom.runbook_loader import SHIPPED_RUNBOOKS, load_runbook
from workflows.incident import IncidentWorkflow

SECRETS = [
    "CHECKOUT_API",
    "DEPLOY_API",
    "ORDERS_API",
    "ORDERS_DB_ADMIN",
    "GATEWAY_API",
    "FLAGS_API",
    "SEARCH_API",
    "SEARCH_ADMIN",
    "STATUS_WEBHOOK",
]


@pytest.fixture
def world(fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch) -> FakeHttp:
    """Every service a shipped runbook talks to, as one fake peer: SERVICE_API → FAKE/service-api."""
    for name in SECRETS:
        monkeypatch.setenv(f"WARROOM_SECRET_{name}", f"{fake_http.url}/{name.lower()}")
    for name in ("DEPLOY_TOKEN", "FLAGS_TOKEN"):
        monkeypatch.setenv(f"WARROOM_SECRET_{name}", f"token-{name.lower()}")
    fake_http.routes[("POST", "/status_webhook")] = Reply(200, {})
    return fake_http


async def play(
    env: WorkflowEnvironment, task_queue: str, name: str, approvers: dict[str, str]
) -> tuple[Handle, IncidentState]:
    """Run runbook `name`, approving each step that waits with the person `approvers` names."""
    async with worker(env.client, task_queue):
        handle = await start(env.client, task_queue, load_runbook(name))
        while True:
            state = await wait_for(
                handle, lambda s: s.is_closed or bool(s.pending_approvals), "an end or a gate"
            )
            if state.is_closed:
                return handle, await finish(handle)
            for waiting in state.pending_approvals:
                await handle.execute_update(
                    IncidentWorkflow.approve_step,
                    Decision(step=waiting.id, by=approvers[waiting.id]),
                )


REPLAY = "/orders_api/replay?state=pending&service=checkout"
SEARCH = "/search_api/search?q=shoes&limit=1"


def chat(world: FakeHttp) -> list[str]:
    return [r.body["text"] for r in world.calls("POST", "/status_webhook")]


def test_every_shipped_runbook_is_played_here():
    shipped = {p.stem for p in SHIPPED_RUNBOOKS.glob("*.yaml")} - {"teams", "demo-checkout"}
    played = {name.removeprefix("test_").replace("_", "-") for name in globals()}
    assert shipped <= played, f"no test plays {sorted(shipped - played)}"


async def test_checkout_5xx(time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp):
    world.routes[("GET", "/checkout_api/stats")] = Reply(
        200, {"error_rate": 0.21, "version": "v42", "previous_version": "v41"}
    )
    world.routes[("POST", "/deploy_api/services/checkout/rollback")] = Reply(202, {})
    world.routes[("GET", "/checkout_api/health")] = [Reply(503, {}), Reply(200, {"ok": True})]
    world.routes[("POST", REPLAY)] = Reply(200, {"replayed": 17})
    _, result = await play(time_env, task_queue, "checkout-5xx", {"rollback": "sre-lead"})

    assert result.status == "resolved", result
    rollback = world.calls("POST", "/deploy_api/services/checkout/rollback")[0]
    assert rollback.body["from_version"] == "v42" and rollback.body["to_version"] == "v41"
    assert rollback.headers["Authorization"] == "Bearer token-deploy_token"
    assert step(result, "rollback").decided_by == "sre-lead"
    assert step(result, "service-healthy").attempts == 2
    assert "Checkout is healthy again; 17 stuck orders replayed." in chat(world)[0]


async def test_checkout_5xx_below_threshold_skips_the_rollback(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp
):
    world.routes[("GET", "/checkout_api/stats")] = Reply(
        200, {"error_rate": 0.01, "version": "v42", "previous_version": "v41"}
    )
    world.routes[("GET", "/checkout_api/health")] = Reply(200, {})
    world.routes[("POST", REPLAY)] = Reply(500, {"error": "down"})
    _, result = await play(time_env, task_queue, "checkout-5xx", {})

    assert world.calls("POST", "/deploy_api/services/checkout/rollback") == []
    assert step(result, "rollback").status == "skipped"
    assert step(result, "replay-stuck-orders").status == "failed"  # on_failure: continue
    assert "no stuck orders replayed" in chat(world)[0]
    assert result.status == "resolved"


async def test_db_pool_exhausted(time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp):
    world.routes[("GET", "/orders_db_admin/pool")] = Reply(
        200, {"in_use": 50, "size": 50, "waiting": 312}
    )
    world.routes[("POST", "/orders_db_admin/pool/recycle")] = Reply(200, {})
    world.routes[("GET", "/orders_db_admin/latency/ok")] = Reply(200, {})
    _, result = await play(
        time_env, task_queue, "db-pool-exhausted", {"recycle-pool": "dba-oncall"}
    )

    assert result.status == "resolved"
    assert world.calls("POST", "/orders_db_admin/pool/recycle")[0].body == {"drain_seconds": 30}
    assert "50/50" in chat(world)[0] and "312 requests waiting" in chat(world)[0]


async def test_latency_p99(time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp):
    world.routes[("GET", "/gateway_api/latency")] = [
        Reply(200, {"p99_ms": 2400, "replicas": 4}),
        Reply(200, {"p99_ms": 900, "replicas": 8}),
    ]
    world.routes[("POST", "/gateway_api/scale")] = Reply(200, {})
    world.routes[("PUT", "/flags_api/flags/degraded-mode")] = Reply(200, {})
    world.routes[("GET", "/gateway_api/latency/ok")] = Reply(200, {})
    _, result = await play(time_env, task_queue, "latency-p99", {"degraded-mode": "api-oncall"})

    assert result.status == "resolved"
    assert world.calls("POST", "/gateway_api/scale")[0].body == {"replicas": "8"}
    flag = world.calls("PUT", "/flags_api/flags/degraded-mode")[0]
    assert flag.body["enabled"] is True
    assert "degraded mode on" in chat(world)[0]


async def test_search_empty(time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp):
    world.routes[("GET", SEARCH)] = [
        Reply(200, {"total": 0, "index": "products-v7"}),
        Reply(200, {"total": 1234, "index": "products-replica"}),
    ]
    world.routes[("POST", "/search_admin/aliases/products")] = Reply(200, {})
    world.routes[("POST", "/search_admin/indices/products-v7/rebuild")] = Reply(202, {})
    _, result = await play(
        time_env, task_queue, "search-empty", {"fail-over-to-replica": "search-oncall"}
    )

    assert result.status == "resolved"
    assert world.calls("POST", "/search_admin/aliases/products")[0].body == {
        "from": "products-v7",
        "to": "products-replica",
    }
    assert len(world.calls("POST", "/search_admin/indices/products-v7/rebuild")) == 1
    assert "1234 hits" in chat(world)[0]


async def test_general(time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp):
    handle, result = await play(time_env, task_queue, "general", {"all-clear": "dana"})

    assert result.status == "resolved"
    announce, all_clear = chat(world)[:2]
    assert "SEV3 declared by tester: test incident" in announce and handle.id in announce
    assert all_clear.startswith("All clear: test incident")
    assert step(result, "all-clear").decided_by == "dana"
    assert paths(world) == ["POST /status_webhook"] * len(paths(world))


def test_shipped_runbooks_are_where_the_loader_looks():
    assert (Path(SHIPPED_RUNBOOKS) / "general.yaml").is_file()
