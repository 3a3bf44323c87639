"""email.send through a real SMTP server on loopback (aiosmtpd): plain, STARTTLS with login,
temporary and permanent refusals, unreachable and silent servers."""

from __future__ import annotations

import email
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from activities.mail import email_send
from tests.activities.actions import failure, run
from tests.conftest import system_binary
from warroom.entry.devstack import free_port

PASSWORD = "smtp-pa55-SECRET"


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and can refuse on command."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    data_reply: str = "250 OK"
    refuse_rcpt: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply.startswith("250"):
            self.messages.append(
                (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content))
            )
        return self.data_reply

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the system's openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            system_binary("openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def serve(mailbox: Mailbox, **options: Any) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = serve(box)
    yield box, controller.port
    controller.stop()


@pytest.fixture
def tls_mailbox(certificate: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    box = Mailbox()
    controller = serve(
        box,
        tls_context=context,
        require_starttls=True,
        authenticator=box.authenticate,
        auth_require_tls=True,
    )
    yield box, controller.port
    controller.stop()


def params(port: int, **more: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "from": "warroom@example.com",
        "to": ["oncall@example.com", "lead@example.com"],
        "subject": "[SEV1] Checkout 5xx spike",
        "text": "Rolled back to v41.\nError rate is back under 1%.",
        **more,
    }


def login_params(port: int, ca_file: Path) -> dict[str, Any]:
    """STARTTLS trusting the test's certificate, then login with the SMTP_PASSWORD secret."""
    secret = {"username": "warroom", "password": "{{ secret.SMTP_PASSWORD }}"}
    return params(port, starttls=True, ca_file=str(ca_file), **secret)


async def test_sends_a_plain_text_mail(mailbox: tuple[Mailbox, int]):
    box, port = mailbox
    result = await run(email_send, params(port))
    ((rcpts, msg),) = box.messages
    assert rcpts == ["oncall@example.com", "lead@example.com"]
    assert msg["Subject"] == "[SEV1] Checkout 5xx spike"
    assert msg["From"] == "warroom@example.com"
    assert msg["Message-ID"] == result.message_id
    assert msg.get_payload() == "Rolled back to v41.\r\nError rate is back under 1%.\r\n"
    assert result.refused == []


async def test_starttls_and_login_with_a_secret_password(
    tls_mailbox: tuple[Mailbox, int],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("WARROOM_SECRET_SMTP_PASSWORD", PASSWORD)
    box, port = tls_mailbox
    result = await run(email_send, login_params(port, certificate[0]))
    assert box.logins == ["warroom"]
    assert len(box.messages) == 1
    assert PASSWORD not in result.model_dump_json()


async def test_a_refused_login_is_not_retried_and_hides_the_password(
    tls_mailbox: tuple[Mailbox, int],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("WARROOM_SECRET_SMTP_PASSWORD", "wrong-" + PASSWORD)
    _, port = tls_mailbox
    err = await failure(email_send, login_params(port, certificate[0]))
    assert err.type == "warroom.SmtpError"
    assert err.non_retryable
    assert "535" in err.message
    assert PASSWORD not in err.message


async def test_an_untrusted_certificate_is_not_retried(tls_mailbox: tuple[Mailbox, int]):
    _, port = tls_mailbox
    err = await failure(email_send, params(port, starttls=True))
    assert err.type == "warroom.SmtpError"
    assert err.non_retryable
    assert "STARTTLS" in err.message


async def test_a_temporary_refusal_is_retryable(mailbox: tuple[Mailbox, int]):
    box, port = mailbox
    box.data_reply = "451 4.3.0 mailbox busy, try later"
    err = await failure(email_send, params(port))
    assert err.type == "warroom.SmtpError"
    assert not err.non_retryable
    assert "451" in err.message


async def test_every_recipient_refused_permanently_is_not_retried(mailbox: tuple[Mailbox, int]):
    box, port = mailbox
    box.refuse_rcpt = {"oncall@example.com", "lead@example.com"}
    err = await failure(email_send, params(port))
    assert err.type == "warroom.SmtpError"
    assert err.non_retryable
    assert "oncall@example.com: 550" in err.message


async def test_some_recipients_refused_are_reported(mailbox: tuple[Mailbox, int]):
    box, port = mailbox
    box.refuse_rcpt = {"lead@example.com"}
    result = await run(email_send, params(port))
    assert result.refused == ["lead@example.com"]
    assert box.messages[0][0] == ["oncall@example.com"]


async def test_connection_refused_is_retryable():
    err = await failure(email_send, params(free_port()))
    assert err.type == "warroom.SmtpError"
    assert not err.non_retryable
    assert "cannot reach SMTP server" in err.message


async def test_a_silent_server_times_out_retryably():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never greets
        err = await failure(email_send, params(silent.getsockname()[1], timeout="1s"))
    assert err.type == "warroom.SmtpError"
    assert not err.non_retryable
    assert "timed out" in err.message
