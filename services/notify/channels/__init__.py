"""Channel adapters of the notify service: inbox, email (SMTP), webhook and SMS (HTTP), with provider failover.

Each adapter module wires its own channel (`@wires`, wiring.py); `build_channels` finds them all."""

from services.notify.channels.base import (
    ChannelAdapter,
    ChannelRegistry,
    DeliveryError,
    OutgoingMessage,
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
)
from services.notify.channels.email import EmailChannel, SmtpSettings
from services.notify.channels.failover import FailoverChannel
from services.notify.channels.http import SmsChannel, SmsGatewaySettings, WebhookChannel
from services.notify.channels.inbox import InboxChannel
from services.notify.channels.signature import (
    SIGNATURE_HEADER,
    sign_webhook,
    verify_webhook_signature,
)
from services.notify.channels.wiring import build_channels, wires

__all__ = [
    "SIGNATURE_HEADER", "ChannelAdapter", "ChannelRegistry", "DeliveryError", "EmailChannel", "FailoverChannel",
    "InboxChannel", "OutgoingMessage", "PermanentDeliveryError", "SendResult", "SmsChannel", "SmsGatewaySettings",
    "SmtpSettings", "TransientDeliveryError", "WebhookChannel", "build_channels", "sign_webhook",
    "verify_webhook_signature", "wires",
]
