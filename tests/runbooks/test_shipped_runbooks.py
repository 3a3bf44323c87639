"""Every shipped runbook played end to end on the time-skipping server: the real workflow and
actions; the outside world faked at its protocol: one loopback HTTP peer for the services,
Prometheus, Slack, PagerDuty and Statuspage, a `kubectl` on the worker's PATH, an SMTP server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.registry import ACTIVITIES
from tests.activities.test_email import Mailbox, serve
from tests.fakehttp import FakeHttp, Recorded, Reply
from tests.runbooks.world import (
    FakeProgram,
    fake_program,
    instant_polls,
    promql,
    query_path,
    vector,
)
from tests.workflows.test_incident import Handle, finish, paths, start, step, wait_for, worker
from warroom.access.tokens import Tokens
from warroom.api.app import Temporal
from warroom.api.server import running
from warroom.contract.models import Decision, IncidentState
from warroom.entry.devstack import free_port
from warroom.entry.web import web_app
from warroom.language.catalogue import Catalogue
from warroom.language.loader import SHIPPED_RUNBOOKS, load_runbook, runbook_files
from warroom.language.workflow_actions import WORKFLOW_ACTIONS
from warroom.record.timeline import timeline
from worker import build_worker
from workflows.incident import IncidentWorkflow

#: Secrets that are base URLs: NAME → FAKE/name.
URLS = [
    "ORDERS_API",
    "ORDERS_DB_ADMIN",
    "FLAGS_API",
    "SEARCH_API",
    "SEARCH_ADMIN",
    "STATUS_WEBHOOK",
    "STATUSPAGE_API",
    "PAGERDUTY_EVENTS",
]
TOKENS = ["FLAGS_TOKEN", "STATUSPAGE_KEY", "SEARCH_PD_KEY"]
PAGE = "kctbh9vrtdwd"
PAGE_INCIDENT = "p31zjtct2jer"
PROMETHEUS = "/prometheus"


@pytest.fixture
def world(fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch) -> FakeHttp:
    """Every service a shipped runbook talks to, as one fake peer: SERVICE_API → FAKE/service_api,
    Prometheus at FAKE/prometheus; chat, Statuspage and PagerDuty answer as the real ones do."""
    for name in URLS:
        monkeypatch.setenv(f"WARROOM_SECRET_{name}", f"{fake_http.url}/{name.lower()}")
    for name in TOKENS:
        monkeypatch.setenv(f"WARROOM_SECRET_{name}", f"token-{name.lower()}")
    monkeypatch.setenv("WARROOM_SECRET_STATUSPAGE_PAGE", PAGE)
    monkeypatch.setenv("WARROOM_PROMETHEUS_URL", fake_http.url + PROMETHEUS)
    instant_polls(monkeypatch)
    fake_http.routes[("POST", "/status_webhook")] = Reply(200, "ok")  # as Slack answers
    incidents = f"/statuspage_api/v1/pages/{PAGE}/incidents"
    fake_http.routes[("POST", incidents)] = Reply(
        201, {"id": PAGE_INCIDENT, "status": "identified", "shortlink": "https://stspg.io/x"}
    )
    fake_http.routes[("PATCH", f"{incidents}/{PAGE_INCIDENT}")] = Reply(
        200, {"id": PAGE_INCIDENT, "status": "resolved"}
    )
    fake_http.routes[("POST", "/pagerduty_events")] = pagerduty
    return fake_http


def pagerduty(request: Recorded) -> Reply:
    """Events API v2: 202 with the dedup key the event was filed under."""
    return Reply(202, {"status": "success", "dedup_key": request.body["dedup_key"]})


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProgram:
    return fake_program(monkeypatch, tmp_path / "bin", "kubectl")


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox()
    controller = serve(box)
    monkeypatch.setenv("WARROOM_SECRET_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WARROOM_SECRET_SMTP_PORT", str(controller.port))
    yield box
    controller.stop()


def prometheus(world: FakeHttp, runbook: str, step_id: str, *answers: float) -> str:
    """Answer the query of `step_id` with `answers` in turn (the last repeats); its path."""
    path = query_path(PROMETHEUS, promql(runbook, step_id))
    world.routes[("GET", path)] = [vector(a) for a in answers]
    return path


async def play(
    env: WorkflowEnvironment, task_queue: str, name: str, approvers: dict[str, str]
) -> tuple[Handle, IncidentState]:
    """Run runbook `name`, approving each step that waits with the person `approvers` names;
    once every expected gate is approved, await the result (so timers are skipped)."""
    async with worker(env.client, task_queue):
        handle = await start(env.client, task_queue, load_runbook(name))
        remaining = dict(approvers)
        while remaining:
            state = await wait_for(
                handle, lambda s: s.is_closed or bool(s.pending_approvals), "an end or a gate"
            )
            if state.is_closed:
                break
            for waiting in state.pending_approvals:
                by = remaining.pop(waiting.id)
                await handle.execute_update(
                    IncidentWorkflow.approve_step, Decision(step=waiting.id, by=by)
                )
        return handle, await finish(handle)


REPLAY = "/orders_api/replay?state=pending&service=checkout"
SEARCH = "/search_api/search?q=shoes&limit=1"


def chat(world: FakeHttp) -> list[str]:
    return [r.body["text"] for r in world.calls("POST", "/status_webhook")]


def sent_to(world: FakeHttp, prefix: str) -> list[Recorded]:
    return [r for r in world.requests if r.path.startswith(prefix)]


def statuses(result: IncidentState) -> dict[str, str]:
    return {s.id: s.status for s in result.steps}


def test_every_shipped_runbook_is_played_here():
    # Configuration beside the runbooks (teams, people, oncall) is not a runbook.
    shipped = {p.stem for p in runbook_files(SHIPPED_RUNBOOKS)} - {"demo-checkout"}
    played = {name.removeprefix("test_").replace("_", "-") for name in globals()}
    assert shipped <= played, f"no test plays {sorted(shipped - played)}"


def test_every_action_kind_is_used_by_a_shipped_runbook():
    used = set()
    for path in runbook_files(SHIPPED_RUNBOOKS):
        rb = load_runbook(path.stem)
        used |= {ref.action for ref in [*rb.steps, *rb.updates]}
    kinds = {fn.__temporal_activity_definition.name for fn in ACTIVITIES} | WORKFLOW_ACTIONS
    assert len(kinds) == 12 and kinds - used == set()


async def test_checkout_5xx(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp, kubectl: FakeProgram
):
    # measure-impact, then error-rate-normal (same query): one check over 1 %, then all under.
    query = prometheus(world, "checkout-5xx", "measure-impact", 0.21, 0.03, 0.004)
    world.routes[("POST", REPLAY)] = Reply(200, {"replayed": 17})
    handle, result = await play(time_env, task_queue, "checkout-5xx", {"rollback": "sre-lead"})

    assert result.status == "resolved", result
    assert set(statuses(result).values()) == {"succeeded"}
    assert step(result, "rollback").decided_by == "sre-lead"
    assert kubectl.calls == [["--namespace", "payments", "rollout", "undo", "deployment/checkout"]]
    settle = step(result, "settle")
    assert settle.finished_at and settle.started_at
    assert settle.finished_at - settle.started_at >= timedelta(minutes=2)
    # hold_for 5m at 30s: 11 checks in a row under 1 %, after the one that was not.
    assert len(world.calls("GET", query)) == 1 + 1 + 11
    opened, resolved = sent_to(world, "/statuspage_api/")
    assert (opened.method, resolved.method) == ("POST", "PATCH")
    assert opened.headers["Authorization"] == "OAuth token-statuspage_key"
    assert opened.body["incident"]["status"] == "identified"
    assert resolved.path.endswith(f"/incidents/{PAGE_INCIDENT}")
    assert resolved.body["incident"]["status"] == "resolved"
    all_clear = world.calls("POST", "/status_webhook")[0].body
    assert "Checkout is healthy again; 17 stuck orders replayed." in all_clear["text"]
    assert all_clear["blocks"][0]["text"]["text"] == "Resolved: Checkout 5xx spike after a deploy"
    assert {"type": "mrkdwn", "text": f"*Incident*\n{handle.id}"} in all_clear["blocks"][1][
        "fields"
    ]


async def test_checkout_5xx_below_threshold_skips_the_rollback(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp, kubectl: FakeProgram
):
    prometheus(world, "checkout-5xx", "measure-impact", 0.01, 0.004)
    world.routes[("POST", REPLAY)] = Reply(500, {"error": "down"})
    _, result = await play(time_env, task_queue, "checkout-5xx", {})

    assert result.status == "resolved"
    skipped = ["status-page", "rollback", "settle", "status-page-resolved"]
    assert [statuses(result)[s] for s in skipped] == ["skipped"] * 4
    assert kubectl.calls == []
    assert sent_to(world, "/statuspage_api/") == []
    assert statuses(result)["replay-stuck-orders"] == "failed"  # on_failure: continue
    assert "no stuck orders replayed" in chat(world)[0]


async def test_db_pool_exhausted(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp, mailbox: Mailbox
):
    # pool-stats, then latency-normal's checks: still a queue once, then none three times.
    world.routes[("GET", "/orders_db_admin/pool")] = [
        Reply(200, {"in_use": 50, "size": 50, "waiting": 312}),
        Reply(200, {"in_use": 31, "size": 50, "waiting": 4}),
        Reply(200, {"in_use": 12, "size": 50, "waiting": 0}),
    ]
    world.routes[("POST", "/orders_db_admin/pool/recycle")] = Reply(200, {})
    handle, result = await play(
        time_env, task_queue, "db-pool-exhausted", {"recycle-pool": "dba-oncall"}
    )

    assert result.status == "resolved"
    assert world.calls("POST", "/orders_db_admin/pool/recycle")[0].body == {"drain_seconds": 30}
    assert len(world.calls("GET", "/orders_db_admin/pool")) == 1 + 1 + 3
    ((rcpts, mail),) = mailbox.messages
    assert rcpts == ["dba-team@example.com"]
    assert mail["Subject"] == f"[SEV2] orders DB pool exhausted ({handle.id})"
    text = " ".join(str(mail.get_payload()).split())
    assert "50/50 connections in use, 312 requests waiting" in text
    assert "three checks in a row (4 checks in all)" in text
    assert "50/50" in chat(world)[0] and "312 requests waiting" in chat(world)[0]


async def test_latency_p99(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp, kubectl: FakeProgram
):
    # measure-latency, recheck-latency, then latency-normal (one query): still slow after scaling.
    p99 = prometheus(world, "latency-p99", "measure-latency", 2400, 900, 250)
    prometheus(world, "latency-p99", "count-replicas", 4)
    world.routes[("PUT", "/flags_api/flags/degraded-mode")] = Reply(200, {})
    handle, result = await play(
        time_env, task_queue, "latency-p99", {"degraded-mode": "api-oncall"}
    )

    assert result.status == "resolved"
    assert kubectl.calls == [
        ["--namespace=edge", "scale", "deployment/api-gateway", "--replicas=8"],
        ["--namespace=edge", "rollout", "status", "deployment/api-gateway", "--timeout=5m"],
    ]
    flag = world.calls("PUT", "/flags_api/flags/degraded-mode")[0]
    assert flag.body == {"enabled": True, "reason": handle.id}
    assert flag.headers["Authorization"] == "Bearer token-flags_token"
    assert len(world.calls("GET", p99)) == 2 + 11
    assert "scaled out to 8 replicas; degraded mode on." in chat(world)[0]


async def test_latency_p99_scaling_out_is_enough(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp, kubectl: FakeProgram
):
    prometheus(world, "latency-p99", "measure-latency", 2400, 280)
    prometheus(world, "latency-p99", "count-replicas", 3)
    _, result = await play(time_env, task_queue, "latency-p99", {})

    assert result.status == "resolved"
    assert statuses(result)["degraded-mode"] == "skipped"
    assert sent_to(world, "/flags_api/") == []
    assert kubectl.calls[0][-1] == "--replicas=6"
    assert "degraded mode not needed" in chat(world)[0]


async def test_search_empty(time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp):
    # probe-search, then results-back's checks: still empty once after the fail-over.
    world.routes[("GET", SEARCH)] = [
        Reply(200, {"total": 0, "index": "products-v7"}),
        Reply(200, {"total": 0, "index": "products-replica"}),
        Reply(200, {"total": 1234, "index": "products-replica"}),
    ]
    world.routes[("POST", "/search_admin/aliases/products")] = Reply(200, {})
    world.routes[("POST", "/search_admin/indices/products-v7/rebuild")] = Reply(202, {})
    handle, result = await play(
        time_env, task_queue, "search-empty", {"fail-over-to-replica": "search-oncall"}
    )

    assert result.status == "resolved"
    trigger, resolve = (r.body for r in world.calls("POST", "/pagerduty_events"))
    assert trigger["routing_key"] == "token-search_pd_key"
    assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", handle.id)
    assert trigger["payload"] == {
        "summary": "Search returns no results from index products-v7",
        "source": "search",
        "severity": "critical",
        "component": "products-v7",
        "custom_details": {"incident": handle.id, "probe": "shoes"},
    }
    assert resolve == {
        "routing_key": "token-search_pd_key",
        "event_action": "resolve",
        "client": "warroom",
        "dedup_key": handle.id,
    }
    assert world.calls("POST", "/search_admin/aliases/products")[0].body == {
        "from": "products-v7",
        "to": "products-replica",
    }
    assert len(world.calls("GET", SEARCH)) == 1 + 2
    assert len(world.calls("POST", "/search_admin/indices/products-v7/rebuild")) == 1
    assert "1234 hits" in chat(world)[0]


async def test_search_empty_when_search_answers_pages_nobody(
    time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp
):
    world.routes[("GET", SEARCH)] = Reply(200, {"total": 87, "index": "products-v7"})
    _, result = await play(time_env, task_queue, "search-empty", {})

    assert result.status == "resolved"
    skipped = ["page-search-team", "fail-over-to-replica", "rebuild-primary", "resolve-page"]
    assert [statuses(result)[s] for s in skipped] == ["skipped"] * 4
    assert world.calls("POST", "/pagerduty_events") == []
    assert sent_to(world, "/search_admin/") == []
    assert "87 hits" in chat(world)[0]


async def test_general(time_env: WorkflowEnvironment, task_queue: str, world: FakeHttp):
    approvers = {"mitigated": "dana", "all-clear": "dana"}
    handle, result = await play(time_env, task_queue, "general", approvers)

    assert result.status == "resolved"
    announce, all_clear = chat(world)[:2]
    assert "SEV3 declared by tester: test incident" in announce and handle.id in announce
    assert all_clear.startswith("All clear: test incident")
    assert step(result, "all-clear").decided_by == "dana"
    assert step(result, "mitigated").decided_by == "dana" and result.milestones.mitigated
    assert paths(world) == ["POST /status_webhook"] * len(paths(world))
    entries = await timeline(time_env.client, handle.id)
    notes = [e.detail for e in entries if e.event == "note"]
    assert len(notes) == 2 and notes[0].startswith("No automated mitigation for this incident")
    # The phase follows what people confirm: triage, mitigate (until `mitigated`), verify.
    phases = [e.detail for e in entries if e.event == "state" and "phase" in e.detail]
    assert [p.split("phase → ")[1].split(",")[0] for p in phases] == [
        "triage",
        "mitigate",
        "verify",
    ]


async def test_general_opened_by_an_alert_on_a_fresh_install(
    dev_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
):
    """The fallback works out of the box: an alert that no shipped runbook matches, on a worker
    without STATUS_WEBHOOK. The incident names the alert's service, is not said to be declared
    by hand, skips the chat posts with a warning instead of pausing, and moves through phases."""
    monkeypatch.delenv("WARROOM_SECRET_STATUS_WEBHOOK", raising=False)
    monkeypatch.setenv("WARROOM_TASK_QUEUE", task_queue)
    app = web_app(Catalogue.load(), Temporal(dev_env.client), tokens=Tokens({}))
    alert = {"title": "Disk full on db-7", "dedup_key": uuid.uuid4().hex, "service": "billing"}
    async with (
        build_worker(dev_env.client, task_queue),
        running(app, "127.0.0.1", free_port()) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        answer = await http.post(f"{url}/v1/alerts", json=alert)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["runbook"], answer.json()["outcome"]) == ("general", "opened")
        handle = dev_env.client.get_workflow_handle_for(
            IncidentWorkflow.run, answer.json()["incident_id"]
        )
        state = await wait_for(handle, lambda s: s.is_closed or bool(s.pending_approvals), "gate")
        assert (state.status, state.phase) == ("awaiting_approval", "mitigate")
        assert "by hand" not in state.title and state.service == "billing"
        assert (step(state, "announce").status, step(state, "announce").decided_by) == (
            "skipped",
            "secret unset",
        )
        for gate in ("mitigated", "all-clear"):
            await handle.execute_update(
                IncidentWorkflow.approve_step, Decision(step=gate, by="carol")
            )
        result = await finish(handle)
        entries = await timeline(dev_env.client, handle.id)
    assert result.status == "resolved" and result.milestones.mitigated is not None
    assert step(result, "all-clear").status == "skipped"  # nowhere to post it: a warning
    warnings = [e for e in entries if e.event == "skipped (secret unset)"]
    assert [w.step for w in warnings] == ["announce", "all-clear"]
    assert all("STATUS_WEBHOOK" in w.detail for w in warnings)
    assert "paused" not in {e.detail.removeprefix("status → ") for e in entries}


def test_shipped_runbooks_are_where_the_loader_looks():
    assert (Path(SHIPPED_RUNBOOKS) / "general.yaml").is_file()
