"""Channel plugins without a network: webhook signatures, failover, HTTP and SMTP error classification."""

from __future__ import annotations

import json

import aiosmtplib
import httpx
import pytest

from services.notify.channels import (
    ChannelAdapter,
    ChannelRegistry,
    EmailChannel,
    FailoverChannel,
    InboxChannel,
    OutgoingMessage,
    PermanentDeliveryError,
    SendResult,
    SmsChannel,
    SmsGatewaySettings,
    SmtpSettings,
    TransientDeliveryError,
    WebhookChannel,
    sign_webhook,
    verify_webhook_signature,
)
from services.notify.channels.email import build_email, classify_smtp_exception

BODY = b'{"id":"evt-1","type":"antq.tips.TipReceived.v1"}'
SECRET = "whsec-test"
T = 1_790_000_000


def message(channel: str = "webhook", **kw: object) -> OutgoingMessage:
    defaults: dict[str, object] = {"notification_id": "n-1", "channel": channel, "recipient_id": "r",
                                   "target": "https://receiver.example/hook", "body": BODY, "secret": SECRET,
                                   "subject": "Chủ đề", "text": "văn bản", "html": "<p>văn bản</p>"}
    return OutgoingMessage(**(defaults | kw))  # type: ignore[arg-type]


# --- signatures --------------------------------------------------------------------------------------------------
def test_signature_verifies_for_the_exact_body_within_tolerance() -> None:
    header = sign_webhook(SECRET, BODY, T)
    assert header.startswith(f"t={T},v1=")
    assert verify_webhook_signature(SECRET, header, BODY, tolerance=300, now=T + 299)


def test_tampered_body_wrong_secret_or_tampered_timestamp_fail() -> None:
    header = sign_webhook(SECRET, BODY, T)
    assert not verify_webhook_signature(SECRET, header, BODY + b" ", now=T)
    assert not verify_webhook_signature("other", header, BODY, now=T)
    assert not verify_webhook_signature(SECRET, header.replace(f"t={T}", f"t={T + 1}"), BODY, now=T)


def test_stale_or_future_signature_fails() -> None:
    header = sign_webhook(SECRET, BODY, T)
    assert not verify_webhook_signature(SECRET, header, BODY, tolerance=300, now=T + 301)
    assert not verify_webhook_signature(SECRET, header, BODY, tolerance=300, now=T - 301)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", f"t={T}", "v1=00", "garbage", f"t={T},v1="])
def test_malformed_signature_headers_fail(header: str) -> None:
    assert not verify_webhook_signature(SECRET, header, BODY, now=T)


def test_any_of_several_signatures_may_match_during_secret_rotation() -> None:
    new = sign_webhook("new-secret", BODY, T)
    old = sign_webhook(SECRET, BODY, T).split(",")[1]
    assert verify_webhook_signature(SECRET, f"{new},{old}", BODY, now=T)


# --- failover ----------------------------------------------------------------------------------------------------
class FakeChannel(ChannelAdapter):
    name = "sms"

    def __init__(self, provider: str, failures: list[Exception | None]) -> None:
        self.provider = provider
        self.failures = failures
        self.sent: list[str] = []

    async def send(self, message: OutgoingMessage) -> SendResult:
        outcome = self.failures.pop(0) if self.failures else None
        if outcome is not None:
            raise outcome
        self.sent.append(message.notification_id)
        return SendResult(channel=self.name, provider=self.provider)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_failover_uses_backup_after_threshold_consecutive_transient_failures() -> None:
    primary = FakeChannel("primary", [TransientDeliveryError("down")] * 10)
    backup = FakeChannel("backup", [])
    clock = Clock()
    channel = FailoverChannel(primary, backup, threshold=3, cooldown_seconds=60, clock=clock)
    for _ in range(2):
        with pytest.raises(TransientDeliveryError):
            await channel.send(message("sms", notification_id="early"))
    result = await channel.send(message("sms", notification_id="tripped"))
    assert result.provider == "backup" and backup.sent == ["tripped"]
    clock.now = 30
    assert (await channel.send(message("sms", notification_id="while-open"))).provider == "backup"
    assert len(primary.failures) == 7  # the primary was not tried while the circuit was open


@pytest.mark.asyncio
async def test_failover_returns_to_primary_after_cooldown_when_it_recovers() -> None:
    primary = FakeChannel("primary", [TransientDeliveryError("down")])
    backup = FakeChannel("backup", [])
    clock = Clock()
    channel = FailoverChannel(primary, backup, threshold=1, cooldown_seconds=60, clock=clock)
    assert (await channel.send(message("sms"))).provider == "backup"
    clock.now = 61
    assert (await channel.send(message("sms"))).provider == "primary"
    assert not channel.using_backup and channel.consecutive_failures == 0


@pytest.mark.asyncio
async def test_failover_reopens_at_once_when_primary_still_fails_after_cooldown() -> None:
    primary = FakeChannel("primary", [TransientDeliveryError("down")] * 5)
    backup = FakeChannel("backup", [])
    clock = Clock()
    channel = FailoverChannel(primary, backup, threshold=2, cooldown_seconds=60, clock=clock)
    with pytest.raises(TransientDeliveryError):
        await channel.send(message("sms"))
    await channel.send(message("sms"))
    clock.now = 100
    assert (await channel.send(message("sms"))).provider == "backup"
    assert channel.using_backup


@pytest.mark.asyncio
async def test_success_resets_the_failure_count_and_permanent_errors_do_not_count() -> None:
    primary = FakeChannel("primary", [TransientDeliveryError("blip"), None, TransientDeliveryError("blip"),
                                      PermanentDeliveryError("bad number"), PermanentDeliveryError("bad number")])
    backup = FakeChannel("backup", [])
    channel = FailoverChannel(primary, backup, threshold=2, clock=Clock())
    with pytest.raises(TransientDeliveryError):
        await channel.send(message("sms"))
    await channel.send(message("sms"))
    with pytest.raises(TransientDeliveryError):
        await channel.send(message("sms"))
    for _ in range(2):
        with pytest.raises(PermanentDeliveryError):
            await channel.send(message("sms"))
    assert backup.sent == [] and channel.consecutive_failures == 1


def test_failover_needs_channels_of_the_same_kind() -> None:
    with pytest.raises(ValueError):
        FailoverChannel(FakeChannel("a", []), InboxChannel())


# --- registry and inbox --------------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_registry_finds_channels_by_name_and_refuses_unknown_ones() -> None:
    registry = ChannelRegistry([InboxChannel()])
    assert registry.names() == ["inbox"]
    assert (await registry.get("inbox").send(message("inbox"))).provider == "inbox"
    with pytest.raises(PermanentDeliveryError):
        registry.get("fax")


@pytest.mark.asyncio
async def test_base_channel_send_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        await ChannelAdapter().send(message())


# --- webhook and SMS over a mocked transport --------------------------------------------------------------------
def client_answering(
    status: int, seen: list[httpx.Request], headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.asyncio
async def test_webhook_posts_the_body_signed_as_a_receiver_verifies_it() -> None:
    seen: list[httpx.Request] = []
    channel = WebhookChannel(client=client_answering(204, seen), clock=lambda: float(T))
    result = await channel.send(message())
    assert result.detail == "HTTP 204"
    request = seen[0]
    assert request.content == BODY
    assert request.headers["content-type"].startswith("application/cloudevents+json")
    assert verify_webhook_signature(SECRET, request.headers["x-antq-signature"], request.content, now=T + 5)


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "error"), [(400, PermanentDeliveryError), (410, PermanentDeliveryError),
                                               (301, PermanentDeliveryError), (408, TransientDeliveryError),
                                               (429, TransientDeliveryError), (503, TransientDeliveryError)])
async def test_webhook_errors_are_classified_by_status(status: int, error: type[Exception]) -> None:
    channel = WebhookChannel(client=client_answering(status, [], {"Retry-After": "7"}))
    with pytest.raises(error) as raised:
        await channel.send(message())
    if status == 429:
        assert raised.value.retry_after == 7  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_webhook_connection_failures_are_transient_and_bad_urls_permanent() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    channel = WebhookChannel(client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
    with pytest.raises(TransientDeliveryError):
        await channel.send(message())
    with pytest.raises(PermanentDeliveryError):
        await WebhookChannel(client=client_answering(200, [])).send(message(target="ftp://x.example/"))
    with pytest.raises(PermanentDeliveryError):
        await channel.send(message(target=None))


@pytest.mark.asyncio
async def test_sms_posts_to_and_text_as_json_to_the_gateway() -> None:
    seen: list[httpx.Request] = []
    settings = SmsGatewaySettings(url="https://sms.example/send", token="tok")
    channel = SmsChannel(settings, client=client_answering(200, seen))
    await channel.send(message("sms", target="+84900000001", text="ANTQ: [KHẨN] Tin báo mới T1"))
    assert json.loads(seen[0].content) == {"to": "+84900000001", "text": "ANTQ: [KHẨN] Tin báo mới T1"}
    assert seen[0].headers["authorization"] == "Bearer tok"
    with pytest.raises(TransientDeliveryError):
        await SmsChannel(settings, client=client_answering(502, [])).send(message("sms", target="+8490"))


# --- email ------------------------------------------------------------------------------------------------------
def test_email_is_multipart_text_and_html_with_a_stable_message_id() -> None:
    mail = build_email(message("email", target="officer@police.example"), "ANTQ <no-reply@antq.local>")
    assert mail["To"] == "officer@police.example" and mail["Subject"] == "Chủ đề"
    assert mail.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in mail.iter_parts()}  # type: ignore[attr-defined]
    assert parts["text/plain"].strip() == "văn bản" and parts["text/html"].strip() == "<p>văn bản</p>"
    assert "n-1" in mail["Message-ID"]


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (aiosmtplib.SMTPResponseException(550, "no such user"), PermanentDeliveryError),
        (aiosmtplib.SMTPResponseException(451, "try later"), TransientDeliveryError),
        (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no", "a@x")]), PermanentDeliveryError),
        (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(450, "busy", "a@x")]),
         TransientDeliveryError),
        (aiosmtplib.SMTPConnectError("refused"), TransientDeliveryError),
        (aiosmtplib.SMTPServerDisconnected("gone"), TransientDeliveryError),
        (TimeoutError("slow"), TransientDeliveryError),
    ],
)
def test_smtp_failures_are_classified(exc: Exception, error: type[Exception]) -> None:
    assert isinstance(classify_smtp_exception(exc), error)


@pytest.mark.asyncio
async def test_email_channel_raises_classified_errors_from_the_transport() -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise aiosmtplib.SMTPResponseException(554, "rejected")

    channel = EmailChannel(SmtpSettings(), send=refuse)
    with pytest.raises(PermanentDeliveryError, match="554"):
        await channel.send(message("email", target="a@example.org"))
    with pytest.raises(PermanentDeliveryError):
        await channel.send(message("email", target=None))
