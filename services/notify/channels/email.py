"""The email channel: one multipart (text + HTML) message per notification over SMTP with aiosmtplib."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field

from services.notify.channels.base import ChannelAdapter, OutgoingMessage, SendResult
from services.notify.channels.wiring import wires
from services.notify.domain.retry import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    classify_smtp_code,
)
from shared.settings import Settings


class SmtpSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "localhost"
    port: int = 25
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    starttls: bool | None = None  # None: upgrade when the server offers it
    use_tls: bool = False  # implicit TLS (port 465)
    from_address: str = "ANTQ <no-reply@antq.local>"
    timeout_seconds: float = 30.0
    validate_certs: bool = True


def build_email(message: OutgoingMessage, from_address: str) -> EmailMessage:
    if not message.target:
        raise PermanentDeliveryError("email without a recipient address")
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = message.target
    mail["Subject"] = message.subject or ""
    mail["Date"] = formatdate(localtime=False)
    # A stable Message-ID lets mail systems drop a copy a retry might produce after a lost reply.
    mail["Message-ID"] = make_msgid(idstring=message.notification_id, domain="antq.notify")
    mail["X-Antq-Notification-Id"] = message.notification_id
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text or "")
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def classify_smtp_exception(exc: Exception) -> DeliveryError:
    """SMTP 5xx replies are final, 4xx and lost connections or timeouts are worth another try."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        kinds = {classify_smtp_code(code) for code in codes}
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if kinds == {"permanent"}:
            return PermanentDeliveryError(f"smtp recipients refused: {detail}")
        return TransientDeliveryError(f"smtp recipients refused: {detail}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind = classify_smtp_code(exc.code)
        error_class = PermanentDeliveryError if kind == "permanent" else TransientDeliveryError
        return error_class(f"smtp {exc.code}: {exc.message}")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return TransientDeliveryError(f"smtp unavailable: {type(exc).__name__}: {exc}")
    return TransientDeliveryError(f"smtp error: {type(exc).__name__}: {exc}")


SendFunction = Callable[..., Awaitable[Any]]


class EmailChannel(ChannelAdapter):
    name = "email"

    def __init__(self, settings: SmtpSettings, *, provider: str = "smtp", send: SendFunction | None = None) -> None:
        self.settings = settings
        self.provider = provider
        self._send = send or aiosmtplib.send

    async def send(self, message: OutgoingMessage) -> SendResult:
        mail = build_email(message, self.settings.from_address)
        s = self.settings
        try:
            await self._send(
                mail,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password,
                start_tls=s.starttls,
                use_tls=s.use_tls,
                timeout=s.timeout_seconds,
                validate_certs=s.validate_certs,
            )
        except DeliveryError:
            raise
        except Exception as exc:  # every failure becomes a classified DeliveryError
            raise classify_smtp_exception(exc) from exc
        return SendResult(channel=self.name, provider=self.provider, detail=f"accepted by {s.host}:{s.port}")


@wires("email")
def email_channel(settings: Settings) -> ChannelAdapter | None:
    """Email when an SMTP host is set (`ANTQ_NOTIFY_SMTP_*`)."""
    if not settings.notify_smtp_host:
        return None
    return EmailChannel(SmtpSettings(
        host=settings.notify_smtp_host, port=settings.notify_smtp_port, username=settings.notify_smtp_user,
        password=settings.notify_smtp_password, starttls=settings.notify_smtp_starttls,
        from_address=settings.notify_smtp_from, timeout_seconds=settings.notify_smtp_timeout_seconds))
