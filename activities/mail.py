"""Action `email.send`: a plain-text email over SMTP (optional STARTTLS and login), for people
and systems that only read mail."""

from __future__ import annotations

import asyncio
import base64
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from pydantic import Field

from activities.boundary import action, clip
from warroom.contract.models import ActionResult
from warroom.errors import SmtpError, UnsendableValue
from warroom.language.actions import EmailParams

#: Line breaks and other control characters a subject cannot hold (a mail header is one line).
_NOT_IN_A_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")


class EmailResult(ActionResult):
    """The Message-ID sent, and recipients the server refused while accepting others."""

    message_id: str
    refused: list[str] = Field(default_factory=list)


def message(params: EmailParams) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = params.sender
    msg["To"] = ", ".join(params.to)
    # An incident title may hold a line break: the subject shows it as a space.
    msg["Subject"] = _NOT_IN_A_HEADER.sub(" ", params.subject).strip()
    msg["Message-ID"] = make_msgid(domain=params.sender.rpartition("@")[2])
    msg.set_content(params.text)
    return msg


def _deliver(params: EmailParams, msg: EmailMessage) -> list[str]:
    """Blocking SMTP conversation (runs in a thread); every socket operation has `timeout`."""
    port = params.port or (587 if params.starttls else 25)
    with smtplib.SMTP(params.host, port, timeout=params.timeout.total_seconds()) as smtp:
        if params.starttls:
            smtp.starttls(context=ssl.create_default_context(cafile=params.ca_file))
        if params.username:
            _login(smtp, params.username, params.password or "", params.host)
        refused = smtp.send_message(msg, to_addrs=params.to)
    return sorted(refused)


def _login(smtp: smtplib.SMTP, username: str, password: str, host: str) -> None:
    """Log in; smtplib encodes credentials as ASCII only, so non-ASCII ones go as UTF-8 over
    AUTH PLAIN, as RFC 4616 defines it (and RFC 4954 carries it)."""
    if username.isascii() and password.isascii():
        smtp.login(username, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    offered = smtp.esmtp_features["auth"].upper().split()
    if "PLAIN" not in offered:
        raise UnsendableValue(
            f"email.send: the username or password holds non-ASCII characters, which only AUTH "
            f"PLAIN carries (as UTF-8); {host} offers {', '.join(offered) or 'no mechanism'}: "
            "use an ASCII password for this server, or a relay that offers AUTH PLAIN"
        )
    token = b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8")
    response = base64.b64encode(token).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {response}")
    if code == 334:  # a server that takes no initial response asks for it after an empty challenge
        code, reply = smtp.docmd(response)
    if code not in (235, 503):  # 503: already authenticated
        raise smtplib.SMTPAuthenticationError(code, reply)


def _refusal(exc: smtplib.SMTPException) -> SmtpError:
    """An SMTP error as SmtpError: 4xx replies are temporary (retried), the rest are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {code for code, _ in exc.recipients.values()}
        detail = "; ".join(f"{rcpt}: {code}" for rcpt, (code, _) in exc.recipients.items())
        temporary = all(400 <= c < 500 for c in codes)
        return SmtpError(
            f"SMTP refused every recipient ({detail})", code="recipients", retryable=temporary
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return SmtpError(
            f"SMTP server answered {exc.smtp_code} {clip(text, 300)} ({type(exc).__name__})",
            code=str(exc.smtp_code),
            retryable=400 <= exc.smtp_code < 500,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SmtpError(f"SMTP server disconnected: {exc}", code="disconnected", retryable=True)
    # SMTPNotSupportedError (no STARTTLS / AUTH offered) and the like: configuration problems.
    return SmtpError(f"SMTP failed: {type(exc).__name__}: {clip(str(exc), 300)}", code="smtp")


@action("email.send", EmailParams)
async def email_send(params: EmailParams) -> EmailResult:
    """Send the mail; unreachable servers and 4xx replies are retried, 5xx, a refused login and
    TLS verification failures are not."""
    msg = message(params)
    where = f"{params.host}:{params.port or (587 if params.starttls else 25)}"
    try:
        refused = await asyncio.to_thread(_deliver, params, msg)
    except smtplib.SMTPException as exc:
        raise _refusal(exc) from exc
    except ssl.SSLError as exc:  # before OSError: a certificate problem does not heal by itself
        raise SmtpError(f"STARTTLS with {where} failed: {exc}", code="tls") from exc
    except OSError as exc:  # refused, unreachable, timed out
        raise SmtpError(
            f"cannot reach SMTP server {where}: {type(exc).__name__}: {exc}",
            code="unreachable",
            retryable=True,
        ) from exc
    return EmailResult(message_id=str(msg["Message-ID"]), refused=refused)
