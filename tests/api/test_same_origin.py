"""Cross-site requests never act, and DNS rebinding reads nothing: a page on another site
cannot approve through the tokenless API with a text/plain form, nor with any request its
browser marks as cross-site; a foreign `Host` is answered 421. Alertmanager, Grafana and curl
(no `Origin`, JSON) work as before."""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest

from tests.api.test_alerts import wait_state
from tests.api.test_serve import start_serve
from tests.cli.test_cli import warroom
from warroom.api.app import Temporal
from warroom.api.same_origin import Served
from warroom.entry.devstack import free_port
from warroom.entry.web import web_app
from warroom.errors import WarroomError
from warroom.incidents import views
from warroom.language.catalogue import Catalogue

EVIL = "http://evil.example"
#: What `<form method=post enctype=text/plain action=http://127.0.0.1:8080/...>` on another
#: site sends: its one field `{"step":"fix","by":"carol","x":"` = `"}` reads as JSON.
FORM_BODY = b'{"step":"fix","by":"carol","x":"="}'
STATE_CHANGING = [
    "/v1/incidents/inc-x-1/approve",
    "/v1/incidents/inc-x-1/note",
    "/v1/incidents/inc-x-1/resolve",
    "/v1/incidents",
    "/v1/alerts",
    "/v1/alerts/alertmanager",
]


def offline(served: Served | None = None) -> httpx.AsyncClient:
    """The API and console with no Temporal behind them, as http://127.0.0.1 sees them."""
    app = web_app(Catalogue.load(), Temporal(address="127.0.0.1:1"), served=served)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


@pytest.mark.parametrize("path", STATE_CHANGING)
@pytest.mark.parametrize(
    ("headers", "status", "said"),
    [
        ({"content-type": "text/plain"}, 415, "send JSON with Content-Type: application/json"),
        ({"content-type": "application/x-www-form-urlencoded"}, 415, "send JSON"),
        ({"content-type": "multipart/form-data; boundary=x"}, 415, "send JSON"),
        ({"content-type": "application/json", "origin": EVIL}, 403, "cross-origin request"),
        ({"content-type": "application/json", "origin": "null"}, 403, "cross-origin request"),
        (  # another port of the same host is another origin
            {"content-type": "application/json", "origin": "http://127.0.0.1:9999"},
            403,
            "cross-origin request refused (Origin: http://127.0.0.1:9999)",
        ),
        (
            {"content-type": "application/json", "sec-fetch-site": "cross-site"},
            403,
            "cross-site request refused (Sec-Fetch-Site: cross-site)",
        ),
        ({"content-type": "application/json", "sec-fetch-site": "same-site"}, 403, "cross-site"),
        ({"content-type": "application/json", "host": "evil.example:8080"}, 421, "evil.example"),
    ],
)
async def test_a_state_changing_request_from_another_site_is_refused(path, headers, status, said):
    async with offline() as http:
        reply = await http.post(path, content=FORM_BODY, headers=headers)
    assert reply.status_code == status, reply.text
    assert said in reply.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, Alertmanager, Grafana: no Origin
        {"origin": "http://127.0.0.1", "sec-fetch-site": "same-origin"},  # its own page
        {"sec-fetch-site": "none"},  # typed by the person
        {"host": "localhost:8080"},
        {"host": "[::1]:8080"},
    ],
)
async def test_json_from_a_client_that_is_no_browser_or_from_this_origin_passes(headers):
    async with offline() as http:
        reply = await http.post("/v1/alerts", json={"title": "x"}, headers=headers)
    assert reply.status_code == 422, reply.text  # the route read it (dedup_key is missing)
    assert "dedup_key" in reply.json()["error"]


async def test_dns_rebinding_reads_nothing_but_a_page_of_this_server_reads_everything():
    async with offline() as http:
        for path in ("/v1/incidents", "/v1/runbooks", "/console/", "/docs", "/healthz"):
            reply = await http.get(path, headers={"host": "rebound.evil.example"})
            assert reply.status_code == 421, path
            assert "does not answer to the name 'rebound.evil.example'" in reply.json()["error"]
        assert (await http.get("/v1/runbooks")).status_code == 200
        assert (await http.get("/v1/runbooks", headers={"host": "localhost"})).status_code == 200


async def test_the_console_takes_only_its_own_forms():
    async with offline() as http:
        json_body = await http.post("/console/sign-in", json={"name": "dana"})
        assert (
            json_body.status_code == 415
            and "application/x-www-form-urlencoded" in (json_body.json()["error"])
        )
        foreign = await http.post(
            "/console/sign-in", data={"name": "dana"}, headers={"origin": EVIL}
        )
        assert foreign.status_code == 403


def test_the_names_a_server_answers_to():
    loopback = Served.at("127.0.0.1")
    assert all(loopback.serves(h) for h in ("127.0.0.1:8080", "LOCALHOST", "[::1]", "127.0.0.2"))
    assert not any(loopback.serves(h) for h in ("10.0.0.5:8080", "evil.example", "a@b", ""))
    public = Served.at("127.0.0.1", "https://warroom.example.com, http://wr.internal:8080/x")
    assert public.serves("warroom.example.com") and public.serves("wr.internal:8080")
    assert public.origins == {"https://warroom.example.com", "http://wr.internal:8080"}
    everywhere = Served.at("0.0.0.0")  # probes and peers use the pod's address
    assert everywhere.serves("10.0.0.5:8080") and everywhere.serves("[fd00::1]:80")
    assert not everywhere.serves("evil.example")
    for bad in ("warroom.example.com", "ftp://x", "https://", "http://u:p@x"):
        with pytest.raises(WarroomError, match="WARROOM_PUBLIC_URL"):
            Served.at(None, bad)


async def test_behind_a_proxy_the_public_url_is_an_origin_of_this_server():
    served = Served.at("127.0.0.1", "https://warroom.example.com")
    async with offline(served) as http:
        headers = {"host": "warroom.example.com", "origin": "https://warroom.example.com"}
        reply = await http.post("/v1/alerts", json={"title": "x"}, headers=headers)
        assert reply.status_code == 422, reply.text
        headers["origin"] = "https://warroom.example.com:8443"  # another port: another origin
        assert (await http.post("/v1/alerts", json={}, headers=headers)).status_code == 403
    async with offline() as http:  # without it, an https page is not this http server's
        headers = {"host": "127.0.0.1", "origin": "https://127.0.0.1"}
        assert (await http.post("/v1/alerts", json={}, headers=headers)).status_code == 403


async def test_a_cross_site_form_cannot_approve_through_the_tokenless_api(api):
    """The attack of the issue, against a real incident waiting for approval."""
    declared = await api.post("/v1/incidents", {"runbook": "paged", "summary": "x", "by": "erin"})
    incident_id = declared.json()["incident_id"]
    await wait_state(api, incident_id, lambda s: s.status == "awaiting_approval")
    url = f"{api.url}/v1/incidents/{incident_id}/approve"
    attacks = [
        # the browser of today: text/plain, and says where it comes from
        {"content-type": "text/plain", "origin": EVIL, "sec-fetch-site": "cross-site"},
        {"content-type": "text/plain"},  # a browser that says nothing
        {"content-type": "application/json", "origin": EVIL},
    ]
    for headers in attacks:
        reply = await api.http.post(url, content=FORM_BODY, headers=headers)
        assert reply.status_code in (403, 415), (headers, reply.text)
    rebound = await api.http.get(
        f"{api.url}/v1/incidents/{incident_id}", headers={"host": f"evil.example:{free_port()}"}
    )
    assert rebound.status_code == 421 and incident_id not in rebound.text

    state = await views.status(api.client, incident_id)
    assert state.status == "awaiting_approval" and state.decisions == []
    # curl and the CLI's peers: JSON, no Origin.
    approved = await api.http.post(
        url, content=FORM_BODY, headers={"content-type": "application/json"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["decided_by"] == "carol"


def test_serve_answers_to_the_names_of_warroom_public_url():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_API_TOKENS"}
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"
    env["WARROOM_PUBLIC_URL"] = f"http://warroom.test:{port}"
    proc, _ = start_serve("--port", str(port), env=env)
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        assert httpx.get(url, headers={"host": f"warroom.test:{port}"}).status_code == 200
        assert httpx.get(url, headers={"host": "other.test"}).status_code == 421
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    env["WARROOM_PUBLIC_URL"] = "warroom.test"
    done = warroom("serve", "--port", str(free_port()), env=env)
    assert done.returncode == 1
    assert done.stderr == (
        "error: WARROOM_PUBLIC_URL: 'warroom.test' is not an http(s) URL such as "
        "https://warroom.example.com\n"
    )


def test_the_form_body_of_the_attack_is_json():
    assert json.loads(FORM_BODY)["step"] == "fix"
