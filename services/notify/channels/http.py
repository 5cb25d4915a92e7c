"""The HTTP channels: webhooks (signed CloudEvent POST) and SMS through a configurable HTTP gateway."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx
from pydantic import BaseModel, ConfigDict, Field

from services.notify.channels.base import ChannelAdapter, OutgoingMessage, SendResult
from services.notify.channels.failover import FailoverChannel
from services.notify.channels.signature import SIGNATURE_HEADER, sign_webhook
from services.notify.channels.targets import SCHEMES, guarded_client, shown_url
from services.notify.channels.wiring import wires
from services.notify.domain.retry import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    classify_http_status,
)
from services.notify.domain.targets import Network, parse_networks
from shared.settings import Settings


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def check_response(response: httpx.Response, what: str) -> None:
    """Raise the classified DeliveryError for a non-success status; 3xx is not followed and counts as wrong URL."""
    kind = classify_http_status(response.status_code)
    if 300 <= response.status_code < 400:
        kind = "permanent"
    if kind is None:
        return
    reason = f"{what} answered HTTP {response.status_code}"
    if kind == "permanent":
        raise PermanentDeliveryError(reason)
    raise TransientDeliveryError(reason, retry_after=_retry_after(response))


async def post(client: httpx.AsyncClient, url: str, what: str, **kwargs: object) -> httpx.Response:
    try:
        response = await client.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.InvalidURL as exc:
        raise PermanentDeliveryError(f"{what}: invalid URL") from exc
    except httpx.UnsupportedProtocol as exc:
        raise PermanentDeliveryError(f"{what}: unsupported URL scheme") from exc
    except httpx.HTTPError as exc:  # timeouts, refused connections, resets
        # The URL's path and query may hold the receiver's token: the reason (logged, stored) names the origin.
        detail = str(exc).replace(url, shown_url(url))
        raise TransientDeliveryError(f"{what} {shown_url(url)} unreachable: {type(exc).__name__}: {detail}") from exc
    check_response(response, what)
    return response


class _HttpChannel(ChannelAdapter):
    def __init__(self, client: httpx.AsyncClient | None, own_client: Callable[[], httpx.AsyncClient]) -> None:
        self._owns_client = client is None
        self._client = client or own_client()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class WebhookChannel(_HttpChannel):
    """POSTs the CloudEvent (the message's `body`, bytes as signed) to the subscription's URL.

    Its own client connects only to public addresses and to the `allowed_networks` (see channels/targets.py);
    a target refused there fails for good (TargetRefused is permanent). A client given (tests) is used as is.
    """

    name = "webhook"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        provider: str = "webhook",
        allowed_networks: Sequence[Network] = (),
    ) -> None:
        super().__init__(client, lambda: guarded_client(allowed_networks, timeout_seconds=timeout_seconds))
        self._clock = clock
        self.provider = provider

    async def send(self, message: OutgoingMessage) -> SendResult:
        if not message.target:
            raise PermanentDeliveryError("webhook without a URL")
        if message.body is None:
            raise PermanentDeliveryError("webhook without a body")
        try:
            scheme = httpx.URL(message.target).scheme
        except httpx.InvalidURL as exc:
            raise PermanentDeliveryError("webhook: invalid URL") from exc
        if scheme not in SCHEMES:
            raise PermanentDeliveryError(f"webhook: only http and https URLs are delivered, not {scheme!r}")
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "X-Antq-Notification-Id": message.notification_id,
            "User-Agent": "antq-notify",
        }
        if message.secret:
            headers[SIGNATURE_HEADER] = sign_webhook(message.secret, message.body, int(self._clock()))
        response = await post(self._client, message.target, "webhook receiver", content=message.body, headers=headers)
        return SendResult(channel=self.name, provider=self.provider, detail=f"HTTP {response.status_code}")


class SmsGatewaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    token: str | None = Field(default=None, repr=False)
    timeout_seconds: float = 10.0


class SmsChannel(_HttpChannel):
    """POSTs `{"to": phone, "text": text}` as JSON to an HTTP SMS gateway (bearer token when configured)."""

    name = "sms"

    def __init__(
        self, settings: SmsGatewaySettings, *, client: httpx.AsyncClient | None = None, provider: str = "sms-gateway"
    ) -> None:
        # The gateway is the operator's own setting, so any address; redirects are not followed (a 3xx is an
        # error), so a message never goes anywhere else.
        super().__init__(client, lambda: httpx.AsyncClient(timeout=settings.timeout_seconds, follow_redirects=False))
        self.settings = settings
        self.provider = provider

    async def send(self, message: OutgoingMessage) -> SendResult:
        if not message.target:
            raise PermanentDeliveryError("SMS without a phone number")
        headers = {"X-Antq-Notification-Id": message.notification_id}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        response = await post(
            self._client, self.settings.url, "SMS gateway",
            json={"to": message.target, "text": message.text}, headers=headers,
        )
        return SendResult(channel=self.name, provider=self.provider, detail=f"HTTP {response.status_code}")


__all__ = ["DeliveryError", "SmsChannel", "SmsGatewaySettings", "WebhookChannel", "check_response"]


@wires("webhook")
def webhook_channel(settings: Settings) -> ChannelAdapter:
    """Always there: subscriptions carry their URLs; it reaches public addresses and the allowed networks."""
    return WebhookChannel(timeout_seconds=settings.notify_http_timeout_seconds,
                          allowed_networks=parse_networks(settings.notify_webhook_allowed_networks))


@wires("sms")
def sms_channel(settings: Settings) -> ChannelAdapter | None:
    """SMS when a gateway URL is set (`ANTQ_NOTIFY_SMS_*`), failing over to the backup gateway when one is."""
    if not settings.notify_sms_gateway_url:
        return None

    def gateway(url: str, provider: str) -> SmsChannel:
        return SmsChannel(SmsGatewaySettings(url=url, token=settings.notify_sms_gateway_token,
                                             timeout_seconds=settings.notify_http_timeout_seconds),
                          provider=provider)

    sms: ChannelAdapter = gateway(settings.notify_sms_gateway_url, "sms-gateway")
    if settings.notify_sms_backup_gateway_url:
        sms = FailoverChannel(sms, gateway(settings.notify_sms_backup_gateway_url, "sms-backup-gateway"),
                              threshold=settings.notify_sms_failover_threshold,
                              cooldown_seconds=settings.notify_sms_failover_cooldown_seconds)
    return sms
