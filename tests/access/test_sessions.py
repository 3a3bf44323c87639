"""Console sessions carry the role and how the person signed in; a session signed before roles
existed reads as a responder's; a value signed for one purpose is no value for another."""

from __future__ import annotations

import base64
import json

import pytest

from warroom.access.sessions import SESSION_SECONDS, Sessions, session_seconds
from warroom.errors import WarroomError

KEY = b"k" * 32


def test_a_session_carries_identity_role_and_how():
    sessions = Sessions(KEY)
    session, value = sessions.new("vera", "viewer", "oidc")
    read = sessions.read(value)
    assert read == session and (read.identity, read.role, read.via) == ("vera", "viewer", "oidc")


def test_a_session_from_before_roles_is_a_responders():
    sessions = Sessions(KEY)
    payload = json.dumps(["sid", "dana", 1_000]).encode()
    value = sessions.seal("session", json.loads(payload))
    old = Sessions(KEY, clock=lambda: 1_000 + 60)
    read = old.read(value)
    assert read is not None and (read.identity, read.role, read.via) == ("dana", "responder", None)


def test_expired_tampered_and_other_purposes_read_as_nothing():
    now = [1_000_000.0]
    sessions = Sessions(KEY, clock=lambda: now[0])
    _, value = sessions.new("dana", "responder", "oidc")
    body, _, mac = value.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload[3] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    assert sessions.read(f"{forged}.{mac}") is None
    assert sessions.read(value.replace(".", ".x", 1)) is None
    assert Sessions(b"o" * 32).read(value) is None
    assert sessions.unseal("oidc sign-in", value, 600) is None  # a session is no sign-in flow
    flow = sessions.seal("oidc sign-in", ["state"])
    assert sessions.read(flow) is None and sessions.unseal("oidc sign-in", flow, 600) == ["state"]
    now[0] += 601
    assert sessions.unseal("oidc sign-in", flow, 600) is None
    now[0] += SESSION_SECONDS
    assert sessions.read(value) is None


def test_the_lifetime_is_whole_hours_from_1_to_720():
    assert session_seconds({}) == SESSION_SECONDS == 12 * 3600
    assert session_seconds({"WARROOM_SESSION_HOURS": " 24 "}) == 24 * 3600
    assert session_seconds({"WARROOM_SESSION_HOURS": "720"}) == 720 * 3600
    for bad in ("0", "721", "1.5", "12h", "\u0663"):  # ٣: a digit, but not one of 0-9
        with pytest.raises(WarroomError, match="write a whole number of hours from 1 to 720"):
            session_seconds({"WARROOM_SESSION_HOURS": bad})


def test_a_session_older_than_its_lifetime_reads_as_nothing():
    now = [1_000_000.0]
    sessions = Sessions(
        KEY, clock=lambda: now[0], lifetime=session_seconds({"WARROOM_SESSION_HOURS": "2"})
    )
    _, value = sessions.new("dana", "responder", "session")
    now[0] += 2 * 3600
    assert sessions.read(value) is not None
    now[0] += 1
    assert sessions.read(value) is None
