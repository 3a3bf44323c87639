"""Data between steps: `outputs`, cut results, inputs that carry only what their templates
reference, `when` conditions and `on_failure` policies, on the time-skipping server."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from tests.fakehttp import FakeHttp, Reply
from tests.workflows.test_incident import (
    Handle,
    abort_and_finish,
    finish,
    paths,
    runbook,
    start,
    step,
    wait_for,
    worker,
)
from warroom.contract.models import StepCommand
from warroom.entry.main import app
from warroom.expressions.dataflow import RESULT_LIMIT, cut_result, evaluate_when, project
from warroom.language.params import coerce_params
from warroom.record.timeline import timeline
from workflows.incident import IncidentWorkflow


async def activity_inputs(handle: Handle) -> dict[str, dict[str, Any]]:
    """The decoded input of each step's activity, by step id, as history holds it."""
    found: dict[str, dict[str, Any]] = {}
    converter = handle._client.data_converter
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            (inp,) = await converter.decode(list(attrs.input.payloads))
            found[inp["step"]] = inp
    return found


async def history_bytes(handle: Handle) -> int:
    return sum([e.ByteSize() async for e in handle.fetch_history_events()])


#: A first step that keeps the error rate it measured as `steps.measure.rate`.
MEASURE = """\
          - id: measure
            phase: triage
            action: http.request
            with: {url: "FAKE/stats"}
            outputs: {rate: "{{ result.json.error_rate }}"}"""


def test_project_keeps_only_the_referenced_paths():
    data = {
        "steps": {"a": {"json": {"x": 1, "big": "y" * 100}, "status": "succeeded"}, "b": {"z": 2}},
        "incident": {"title": "t", "summary": "s"},
    }
    assert project(data, {("steps", "a", "json", "x"), ("incident",)}) == {
        "steps": {"a": {"json": {"x": 1}}},
        "incident": {"title": "t", "summary": "s"},
    }
    # A shorter path keeps the whole value whatever longer ones say; unknown names are left out.
    assert project(data, {("steps", "a"), ("steps", "a", "json", "x"), ("nope", "x")}) == {
        "steps": {"a": data["steps"]["a"]}  # type: ignore[index]
    }


def test_cut_result_keeps_small_fields_and_marks_the_large_ones():
    big = {"status": 200, "json": {"rows": ["x" * 100] * 2000}, "text": ""}
    cut = cut_result(big)
    assert cut["status"] == 200 and cut["text"] == ""
    assert cut["json"].startswith("[cut: ")
    assert "declare `outputs`" in cut["json"]
    small = {"status": 200, "json": {"ok": True}}
    assert cut_result(small) == small


def test_when_is_a_boolean_expression_or_a_clear_error():
    data = {"steps": {"m": {"rate": "0.07"}}}
    assert evaluate_when("{{ steps.m.rate | float > 0.05 }}", data) is True
    assert evaluate_when("{{ steps.m.rate | float > 0.5 }}", data) is False
    assert evaluate_when("false", data) is False
    for broken, why in [
        ("{{ steps.nope.rate > 1 }}", "failed"),
        ("{{ steps.m.rate }}", "not true or false"),
    ]:
        try:
            evaluate_when(broken, data)
        except ValueError as exc:
            assert why in str(exc)
        else:
            raise AssertionError(f"{broken} evaluated")


async def test_outputs_are_all_a_step_keeps_and_inputs_carry_only_what_they_use(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    huge = {"version": "v42", "rows": ["r" * 1000] * 900}  # ~0.9 MB answer
    fake_http.routes[("GET", "/stats")] = Reply(200, huge)
    fake_http.routes[("GET", "/other")] = Reply(200, huge)
    fake_http.routes[("POST", "/rollback")] = Reply(200, {})
    rb = runbook(
        """\
        name: flow
        title: Data flow
        steps:
          - id: measure
            phase: triage
            action: http.request
            with: {url: "FAKE/stats"}
            outputs: {version: "{{ result.json.version }}"}
          - {id: other, phase: triage, action: http.request, with: {url: "FAKE/other"}}
          - id: rollback
            phase: mitigate
            action: http.request
            with: {method: POST, url: FAKE/rollback, json: {to: "{{ steps.measure.version }}"}}
        """.replace("MEASURE", MEASURE),
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        result = await finish(handle)

    assert result.status == "resolved"
    assert fake_http.calls("POST", "/rollback")[0].body == {"to": "v42"}
    inputs = await activity_inputs(handle)
    # The rollback's input holds the one value it references, not the earlier answers.
    assert inputs["rollback"]["context"] == {"steps": {"measure": {"version": "v42"}}}
    assert inputs["measure"]["context"] == {}
    # Both big answers stay out of history: one by its outputs, the other cut.
    assert await history_bytes(handle) < 2 * RESULT_LIMIT + 64 * 1024


async def test_a_false_when_skips_the_step_and_later_steps_see_it(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/stats")] = Reply(200, {"error_rate": 0.01})
    fake_http.routes[("POST", "/chat")] = Reply(200, {})
    rb = runbook(
        """\
        name: cond
        title: Conditions
        steps:
MEASURE
          - id: rollback
            phase: mitigate
            when: "{{ steps.measure.rate | float > 0.05 }}"
            action: http.request
            with: {method: POST, url: FAKE/rollback}
          - id: tell
            phase: communicate
            action: webhook.post
            with: {url: FAKE/chat, text: "rollback {{ steps.rollback.status }}"}
        """.replace("MEASURE", MEASURE),
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        result = await finish(handle)
        entries = await timeline(time_env.client, handle.id)

    assert paths(fake_http) == ["GET /stats", "POST /chat"]
    skipped = [e for e in entries if e.step == "rollback"]
    assert [e.event for e in skipped] == ["skipped (condition)"]
    assert "steps.measure.rate | float > 0.05" in skipped[0].detail
    rollback = step(result, "rollback")
    assert (rollback.status, rollback.decided_by) == ("skipped", "condition")
    assert fake_http.calls("POST", "/chat")[0].body == {"text": "rollback skipped"}
    assert result.status == "resolved"


async def test_a_when_that_fails_pauses_the_step_like_a_failure(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("GET", "/stats")] = Reply(200, {"error_rate": "high"})
    rb = runbook(
        """\
        name: condfail
        title: Broken condition
        steps:
MEASURE
          - id: rollback
            phase: mitigate
            when: "{{ steps.measure.rate }}"
            action: http.request
            with: {method: POST, url: FAKE/rollback}
        """.replace("MEASURE", MEASURE),
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        state = await wait_for(handle, lambda s: s.status == "paused", "paused")
        rollback = step(state, "rollback")
        assert rollback.status == "failed"
        assert "not true or false" in (rollback.error or "")
        await handle.signal(IncidentWorkflow.skip_step, StepCommand(step="rollback", by="dana"))
        result = await finish(handle)
    assert paths(fake_http) == ["GET /stats"]
    assert step(result, "rollback").status == "skipped"


FAILING = """\
name: policy
title: Failure policies
steps:
  - {id: first, phase: triage, action: http.request, with: {url: "FAKE/broken"}, retry: none,
     on_failure: POLICY}
  - {id: second, phase: mitigate, action: http.request, with: {url: "FAKE/second"}}
  - {id: fallback, phase: mitigate, action: http.request, with: {url: "FAKE/fallback"}}
"""


async def run_policy(
    env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp, policy: str
) -> Any:
    fake_http.routes[("GET", "/broken")] = Reply(400, {"error": "bad"})
    fake_http.routes[("GET", "/second")] = Reply(200, {})
    fake_http.routes[("GET", "/fallback")] = Reply(200, {})
    rb = runbook(FAILING.replace("POLICY", policy), fake_http)
    async with worker(env.client, task_queue):
        return await finish(await start(env.client, task_queue, rb))


async def test_on_failure_continue_goes_on_with_the_next_step(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    result = await run_policy(time_env, task_queue, fake_http, "continue")
    assert paths(fake_http) == ["GET /broken", "GET /second", "GET /fallback"]
    assert step(result, "first").status == "failed"
    assert result.status == "resolved"


async def test_on_failure_abort_ends_the_incident(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    result = await run_policy(time_env, task_queue, fake_http, "abort")
    assert paths(fake_http) == ["GET /broken"]
    assert result.status == "aborted"
    assert "step first failed" in (result.outcome or "")
    assert step(result, "second").status == "pending"


async def test_on_failure_goto_jumps_to_the_fallback(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    result = await run_policy(time_env, task_queue, fake_http, "{goto: fallback}")
    assert paths(fake_http) == ["GET /broken", "GET /fallback"]
    assert step(result, "second").status == "pending"
    assert step(result, "fallback").status == "succeeded"
    assert result.status == "resolved"


async def test_an_input_too_large_for_temporal_pauses_the_step_with_a_clear_error(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    # Each answer is kept whole by an output that selects it, so together they are too big
    # for one activity input; the step must not be scheduled, and the incident pauses.
    rows = ["r" * 1000] * 60
    for name in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"):
        fake_http.routes[("GET", f"/{name}")] = Reply(200, {"rows": rows})
    steps = "\n".join(
        f"  - {{id: {n}, phase: triage, action: http.request, with: {{url: 'FAKE/{n}'}},"
        f" outputs: {{rows: '{{{{ result.json.rows | join(\",\") }}}}'}}}}"
        for n in "abcdefghij"
    )
    every = " ".join(f"{{{{ steps.{n}.rows }}}}" for n in "abcdefghij")
    rb = runbook(
        "name: big\ntitle: Too big\nsteps:\n"
        + steps
        + f"\n  - {{id: all, phase: mitigate, action: http.request,"
        f" with: {{method: POST, url: FAKE/all, json: {{all: '{every}'}}}}}}\n",
        fake_http,
    )
    async with worker(time_env.client, task_queue):
        handle = await start(time_env.client, task_queue, rb)
        state = await wait_for(handle, lambda s: s.status == "paused", "paused")
        # Close it: an open incident left on the shared time-skipping server stops time skipping.
        await abort_and_finish(handle, "tester")
    failed = step(state, "all")
    assert failed.status == "failed"
    assert "PayloadTooLarge" in (failed.error or "") and "512 KiB limit" in (failed.error or "")
    assert fake_http.calls("POST", "/all") == []


async def test_params_given_at_declare_reach_the_templates(
    time_env: WorkflowEnvironment, task_queue: str, fake_http: FakeHttp
):
    fake_http.routes[("POST", "/scale")] = Reply(200, {})
    rb = runbook(
        """\
        name: params
        title: Params
        params:
          replicas: {type: int, required: true}
          window: {type: duration, default: 10m}
        steps:
          - id: scale
            phase: mitigate
            action: http.request
            with:
              method: POST
              url: FAKE/scale
              json: {replicas: "{{ params.replicas * 2 }}", window: "{{ params.window }}"}
        """.replace("MEASURE", MEASURE),
        fake_http,
    )
    params = coerce_params(rb.params, {"replicas": "4"})
    async with worker(time_env.client, task_queue):
        result = await finish(await start(time_env.client, task_queue, rb, params=params))
    assert result.status == "resolved"
    assert fake_http.calls("POST", "/scale")[0].body == {"replicas": "8", "window": "10m"}


def test_declare_refuses_missing_or_mistyped_params_before_connecting(tmp_path):
    path = tmp_path / "rb.yaml"
    path.write_text(
        "name: p\ntitle: P\nparams: {replicas: {type: int, required: true}}\n"
        "steps: [{id: a, phase: triage, action: http.request, with: {url: 'http://x.example/'}}]\n"
    )
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:1"}  # nothing listens: a refusal must come first
    for args, why in [
        ([], "replicas"),
        (["--param", "replicas=many"], "replicas"),
        (["--param", "replicas=2", "--param", "replics=3"], "did you mean 'replicas'"),
    ]:
        result = CliRunner().invoke(
            app, ["declare", "--runbook", str(path), "--summary", "s", *args], env=env
        )
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error: ") and why in result.output, result.output
        assert "Traceback" not in result.output and "cannot reach" not in result.output
