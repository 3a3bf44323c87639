"""statuspage.update against a loopback Statuspage API: its paths, `OAuth` key, incident shape."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.statuspage import statuspage_update
from tests.activities.actions import FAILURE_MODES, FailureMode, HttpTarget, failure, run
from tests.fakehttp import FakeHttp, Recorded, Reply

API_KEY = "sp-0f1e2d3c4b5a-SECRET"
PAGE = "kctbh9vrtdwd"
STATUSES = {"investigating", "identified", "monitoring", "resolved"}


class FakeStatuspage:
    """Keeps incidents per page like Statuspage: POST creates, PATCH updates, 404 for unknown ids."""

    def __init__(self) -> None:
        self.incidents: dict[str, dict[str, Any]] = {}
        self._ids = (f"p31zjtct2jer{i}" for i in itertools.count())

    def __call__(self, rec: Recorded) -> Reply:
        if rec.headers.get("Authorization") != f"OAuth {API_KEY}":
            return Reply(401, {"error": "Could not authenticate"})
        parts = rec.path.strip("/").split("/")  # v1 pages PAGE incidents [ID]
        if parts[:4] != ["v1", "pages", PAGE, "incidents"]:
            return Reply(404, {"error": "Page not found"})
        fields = (rec.body or {}).get("incident")
        if not isinstance(fields, dict) or fields.get("status", "investigating") not in STATUSES:
            return Reply(422, {"error": ["Status is not included in the list"]})
        if rec.method == "POST" and len(parts) == 4:
            if not fields.get("name"):
                return Reply(422, {"error": ["Name can't be blank"]})
            incident = {"id": next(self._ids), "shortlink": "https://stspg.io/x", **fields}
            self.incidents[incident["id"]] = incident
            return Reply(201, incident)
        if rec.method == "PATCH" and len(parts) == 5 and parts[4] in self.incidents:
            self.incidents[parts[4]].update(fields)
            return Reply(200, self.incidents[parts[4]])
        return Reply(404, {"error": "Incident not found"})


def params(base: str, **more: Any) -> dict[str, Any]:
    return {
        "api_url": base,
        "page_id": PAGE,
        "api_key": "{{ secret.STATUSPAGE_KEY }}",
        "name": "Checkout errors",
        "status": "investigating",
        **more,
    }


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_SECRET_STATUSPAGE_KEY", API_KEY)


async def test_create_then_update_the_same_incident_with_component_status(fake_http: FakeHttp):
    statuspage = FakeStatuspage()
    fake_http.routes[("POST", f"/v1/pages/{PAGE}/incidents")] = statuspage
    created = await run(
        statuspage_update,
        params(
            fake_http.url,
            body="We are looking into it",
            components={"8kbf7d35c070": "major_outage"},
        ),
    )
    fake_http.routes[("PATCH", f"/v1/pages/{PAGE}/incidents/{created.incident_id}")] = statuspage
    updated = await run(
        statuspage_update,
        params(
            fake_http.url,
            name=None,
            incident_id=created.incident_id,
            status="resolved",
            components={"8kbf7d35c070": "operational"},
        ),
    )
    assert updated.incident_id == created.incident_id
    assert (created.status, updated.status) == ("investigating", "resolved")
    create, update = fake_http.requests
    assert create.body == {
        "incident": {
            "status": "investigating",
            "name": "Checkout errors",
            "body": "We are looking into it",
            "component_ids": ["8kbf7d35c070"],
            "components": {"8kbf7d35c070": "major_outage"},
        }
    }
    assert "name" not in update.body["incident"]
    assert statuspage.incidents[created.incident_id]["components"] == {
        "8kbf7d35c070": "operational"
    }
    assert API_KEY not in created.model_dump_json()


async def test_unknown_incident_is_a_non_retryable_statuspage_error(fake_http: FakeHttp):
    fake_http.routes[("PATCH", f"/v1/pages/{PAGE}/incidents/nosuch")] = FakeStatuspage()
    err = await failure(statuspage_update, params(fake_http.url, incident_id="nosuch"))
    assert err.type == "warroom.StatuspageError"
    assert err.non_retryable
    assert "(404): Incident not found" in err.message


async def test_a_wrong_key_is_refused_and_never_echoed(
    fake_http: FakeHttp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARROOM_SECRET_STATUSPAGE_KEY", "wrong-key-123")
    fake_http.routes[("POST", f"/v1/pages/{PAGE}/incidents")] = FakeStatuspage()
    err = await failure(statuspage_update, params(fake_http.url))
    assert err.type == "warroom.StatuspageError"
    assert "Could not authenticate" in err.message
    assert "wrong-key-123" not in err.message


async def test_statuspages_420_rate_limit_is_retryable(fake_http: FakeHttp):
    fake_http.routes[("POST", f"/v1/pages/{PAGE}/incidents")] = Reply(
        420, {"error": "Enhance your calm"}
    )
    err = await failure(statuspage_update, params(fake_http.url))
    assert err.type == "warroom.StatuspageError"
    assert not err.non_retryable


@pytest.mark.parametrize("bad", [{"page_id": "../admin"}, {"name": None}, {"status": "fixed"}])
async def test_refuses_bad_params_before_sending(fake_http: FakeHttp, bad: dict[str, Any]):
    err = await failure(statuspage_update, params(fake_http.url, **bad))
    assert err.type == "warroom.ActionParamsError"
    assert fake_http.requests == []


TARGET = HttpTarget(
    fn=statuspage_update,
    method="POST",
    path=f"/v1/pages/{PAGE}/incidents",
    params=params,
    ok=Reply(201, {"id": "p31zjtct2jer", "status": "investigating"}),
    refused=Reply(422, {"error": ["Name can't be blank"]}),
    refused_type="warroom.StatuspageError",
)


@pytest.mark.parametrize("mode", FAILURE_MODES, ids=lambda m: m.__name__)
async def test_failure_modes(mode: FailureMode, fake_http: FakeHttp, time_env: WorkflowEnvironment):
    await mode(TARGET, fake_http, time_env)
