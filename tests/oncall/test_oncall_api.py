"""`/v1/oncall` on the real API (loopback port, dev server, a worker that started the
schedules): who is on call, shifts, overrides with the caller's identity, 4xx with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import TOKENS, Api, serve_api, worker_queue  # noqa: F401 (a fixture)
from tests.oncall.fixtures import EXAMPLE, NAMES
from warroom.access.roles import Principal, Role
from worker import start_schedules

CAROL = {"Authorization": "Bearer carol-token-0123456789abc"}
DANA_TOKEN = "dana-admin-token-0123456789"
DANA_ADMIN = Principal("dana", Role.admin, "token:dana")
DANA = {"Authorization": f"Bearer {DANA_TOKEN}"}


@pytest.fixture
async def oncall_api(
    dev_env,
    worker_queue: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Api, str]]:
    name = f"sre-{worker_queue[-8:]}"
    (tmp_path / "oncall.yaml").write_text(EXAMPLE.replace("sre-primary", name))
    (tmp_path / "people.yaml").write_text("".join(f"{n}: {{email: {n}@x.io}}\n" for n in NAMES))
    monkeypatch.setenv("WARROOM_ONCALL", str(tmp_path / "oncall.yaml"))
    await start_schedules(dev_env.client, worker_queue)
    async with (
        await serve_api(dev_env.client, {**TOKENS, DANA_TOKEN: DANA_ADMIN}) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        yield Api(url, http, dev_env.client), name
    await dev_env.client.get_workflow_handle(f"oncall-{name}").terminate()


async def test_who_shifts_and_an_override_by_the_caller(oncall_api: tuple[Api, str]) -> None:
    api, name = oncall_api
    assert (await api.get("/v1/oncall")).status_code == 401
    answer = await api.get(f"/v1/oncall/{name}?at=2026-12-02T12:00", headers=CAROL)
    assert answer.status_code == 200, answer.text
    assert answer.json()["who"] == "alice" and answer.json()["at"] == "2026-12-02T11:00:00Z"
    everyone = await api.get("/v1/oncall", headers=CAROL)
    assert name in [a["schedule"] for a in everyone.json()]

    start = datetime.now(UTC) + timedelta(days=1)
    body = {
        "who": "erin",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=6)).isoformat(),
        "reason": "swap",
    }
    mallory = await api.post(
        f"/v1/oncall/{name}/overrides", {**body, "by": "mallory"}, headers=CAROL
    )
    assert mallory.status_code == 403 and "authenticated as 'carol'" in mallory.json()["error"]
    # carol is a responder: she may put herself on call, not erin (that needs admin)
    refused = await api.post(f"/v1/oncall/{name}/overrides", body, headers=CAROL)
    assert refused.status_code == 403 and "needs the admin role" in refused.json()["error"]
    made = await api.post(f"/v1/oncall/{name}/overrides", body, headers=DANA)
    assert made.status_code == 201, made.text
    assert made.json()["override"]["by"] == "dana" and made.json()["warning"] is None
    again = await api.post(f"/v1/oncall/{name}/overrides", body, headers=DANA)
    assert again.status_code == 409 and "overlaps o1: erin" in again.json()["error"]

    listed = await api.get(f"/v1/oncall/{name}/shifts?days=3", headers=CAROL)
    assert listed.status_code == 200
    assert [s["who"] for s in listed.json()["shifts"] if s["override"]] == ["erin"]


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/v1/oncall/nope", 404, "no schedule 'nope'"),
        ("/v1/oncall/NAME?at=someday", 422, "at: 'someday' is not a time"),
        ("/v1/oncall/NAME/shifts?days=1000", 422, "days"),
    ],
)
async def test_bad_requests_say_why(
    oncall_api: tuple[Api, str], path: str, status: int, reason: str
) -> None:
    api, name = oncall_api
    answer = await api.get(path.replace("NAME", name), headers=CAROL)
    assert answer.status_code == status and reason in answer.json()["error"], answer.text


async def test_a_blank_reason_is_refused(oncall_api: tuple[Api, str]) -> None:
    api, name = oncall_api
    start = datetime.now(UTC) + timedelta(days=1)
    body = {
        "who": "bob",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "reason": " ",
    }
    answer = await api.post(f"/v1/oncall/{name}/overrides", body, headers=DANA)
    assert answer.status_code == 422 and "a reason is required" in answer.json()["error"]


async def test_cancel_an_override_by_role(oncall_api: tuple[Api, str]) -> None:
    api, name = oncall_api

    async def cancel(path: str, body: object = None, **kw: object) -> httpx.Response:
        return await api.http.request("DELETE", f"{api.url}{path}", json=body, **kw)  # type: ignore[arg-type]

    start = datetime.now(UTC) + timedelta(days=1)
    made = []
    for who, headers in (("erin", DANA), ("carol", CAROL)):
        body = {
            "who": who,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "reason": "swap",
        }
        answer = await api.post(f"/v1/oncall/{name}/overrides", body, headers=headers)
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["override"])
        start += timedelta(days=1)
    erins, carols = (f"/v1/oncall/{name}/overrides/{o['id']}" for o in made)

    assert (await cancel(erins)).status_code == 401
    refused = await cancel(erins, headers=CAROL)  # erin's, made by dana: carol is a responder
    assert refused.status_code == 403, refused.text
    assert (
        "cancelling override o1 (it put erin on call; dana made it) needs the admin role"
        in (refused.json()["error"])
    )
    mallory = await cancel(carols, {"by": "mallory"}, headers=CAROL)
    assert mallory.status_code == 403 and "authenticated as 'carol'" in mallory.json()["error"]
    leak = await cancel(carols, {"reason": CAROL["Authorization"][7:]}, headers=CAROL)
    assert leak.status_code == 422 and "an API token is never" in leak.json()["error"]
    own = await cancel(carols, {"reason": "sick"}, headers=CAROL)
    assert own.status_code == 200, own.text
    assert own.json() == made[1]
    again = await cancel(carols, headers=CAROL)
    assert again.status_code == 409 and "no override o2" in again.json()["error"]
    assert "the ones not ended are o1 (erin" in again.json()["error"]
    by_admin = await cancel(erins, headers=DANA)
    assert by_admin.status_code == 200 and by_admin.json()["who"] == "erin"
    listed = await api.get(f"/v1/oncall/{name}/shifts?days=4", headers=CAROL)
    assert [s for s in listed.json()["shifts"] if s["override"]] == []

    unknown = await cancel("/v1/oncall/nope/overrides/o1", headers=DANA)
    assert unknown.status_code == 404 and "no schedule 'nope'" in unknown.json()["error"]
    bad = await cancel(f"/v1/oncall/{name}/overrides/first", headers=DANA)
    assert bad.status_code == 422, bad.text
