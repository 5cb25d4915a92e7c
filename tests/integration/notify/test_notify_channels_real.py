"""Channels against real servers on 127.0.0.1: an aiosmtpd SMTP server and a plain HTTP receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from services.notify.channels import (
    EmailChannel,
    FailoverChannel,
    OutgoingMessage,
    PermanentDeliveryError,
    SmsChannel,
    SmsGatewaySettings,
    SmtpSettings,
    TransientDeliveryError,
    WebhookChannel,
    verify_webhook_signature,
)
from services.notify.domain import render, webhook_body
from services.notify.domain.targets import parse_networks
from shared.testing import free_port


class Mailbox:
    """aiosmtpd handler: keeps every accepted message; refuses recipients at `refused.example`."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


class Receiver:
    """A local HTTP server answering with the queued statuses (then 200) and recording each request."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((self.path, dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


LOOPBACK = parse_networks("127.0.0.0/8")  # the receiver of these tests listens there
EVENT = {"specversion": "1.0", "id": "evt-42", "source": "antq/tips", "type": "antq.tips.TipReceived.v1",
         "time": "2026-11-22T03:00:00Z",
         "data": {"tip_id": "T1", "category": "theft", "channel": "web", "area_code": "79.26743", "anonymous": True,
                  "priority": "urgent", "received_at": "2026-11-22T03:00:00Z", "description": "reporter text"}}


@pytest.mark.asyncio
async def test_email_reaches_a_real_smtp_server_with_text_and_html(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    rendered = render(EVENT["type"], "email", "vi", EVENT)  # type: ignore[arg-type]
    channel = EmailChannel(SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout_seconds=5))
    await channel.send(OutgoingMessage(notification_id="n-1", channel="email", recipient_id="officer:a",
                                       target="officer@police.example", subject=rendered.subject,
                                       text=rendered.text, html=rendered.html))
    (mail,) = mailbox.messages
    assert mail["X-Antq-Notification-Id"] == "n-1"
    kinds = [part.get_content_type() for part in mail.walk()]
    assert {"text/plain", "text/html"} <= set(kinds)
    assert b"reporter text" not in mail.as_bytes()


@pytest.mark.asyncio
async def test_refused_recipient_is_a_permanent_failure(smtp: tuple[Mailbox, int]) -> None:
    _, port = smtp
    channel = EmailChannel(SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout_seconds=5))
    with pytest.raises(PermanentDeliveryError, match="550"):
        await channel.send(OutgoingMessage(notification_id="n-2", channel="email", recipient_id="r",
                                           target="nobody@refused.example", subject="s", text="t"))


@pytest.mark.asyncio
async def test_unreachable_smtp_server_is_a_transient_failure() -> None:
    channel = EmailChannel(SmtpSettings(host="127.0.0.1", port=free_port(), starttls=False, timeout_seconds=2))
    with pytest.raises(TransientDeliveryError):
        await channel.send(OutgoingMessage(notification_id="n-3", channel="email", recipient_id="r",
                                           target="a@example.org", subject="s", text="t"))


@pytest.mark.asyncio
async def test_webhook_receiver_verifies_the_signature_as_documented(receiver: Receiver) -> None:
    body = webhook_body(EVENT)
    channel = WebhookChannel(timeout_seconds=5, allowed_networks=LOOPBACK)
    try:
        await channel.send(OutgoingMessage(notification_id="n-4", channel="webhook", recipient_id="webhook:s1",
                                           target=f"{receiver.url}/hook", body=body, secret="s3cret"))
    finally:
        await channel.aclose()
    path, headers, received = receiver.requests[0]
    assert path == "/hook" and received == body
    assert verify_webhook_signature("s3cret", headers["X-Antq-Signature"], received, 300, time.time())
    assert not verify_webhook_signature("wrong", headers["X-Antq-Signature"], received, 300, time.time())
    assert b"reporter text" not in received


@pytest.mark.asyncio
async def test_receiver_that_fails_then_recovers_and_one_that_refuses(receiver: Receiver) -> None:
    channel = WebhookChannel(timeout_seconds=5, allowed_networks=LOOPBACK)
    msg = OutgoingMessage(notification_id="n-5", channel="webhook", recipient_id="webhook:s1",
                          target=f"{receiver.url}/hook", body=b"{}", secret="k")
    receiver.statuses = [503, 503]
    try:
        for _ in range(2):
            with pytest.raises(TransientDeliveryError):
                await channel.send(msg)
        assert (await channel.send(msg)).detail == "HTTP 200"
        receiver.statuses = [404]
        with pytest.raises(PermanentDeliveryError):
            await channel.send(msg)
    finally:
        await channel.aclose()
    assert len(receiver.requests) == 4


@pytest.mark.asyncio
async def test_sms_fails_over_to_the_backup_gateway(receiver: Receiver) -> None:
    dead = SmsChannel(SmsGatewaySettings(url=f"http://127.0.0.1:{free_port()}/send", timeout_seconds=2),
                      provider="primary-gw")
    alive = SmsChannel(SmsGatewaySettings(url=f"{receiver.url}/send", timeout_seconds=5), provider="backup-gw")
    channel = FailoverChannel(dead, alive, threshold=2)
    msg = OutgoingMessage(notification_id="n-6", channel="sms", recipient_id="officer:a", target="+84900000001",
                          text="ANTQ: [KHẨN] Tin báo mới T1")
    try:
        with pytest.raises(TransientDeliveryError):
            await channel.send(msg)
        assert (await channel.send(msg)).provider == "backup-gw"
    finally:
        await channel.aclose()
    path, _, body = receiver.requests[0]
    assert path == "/send" and b'"to":"+84900000001"' in body.replace(b" ", b"")
