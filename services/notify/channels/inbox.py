"""The in-app inbox channel: the store writes the inbox row in the delivery's transaction; sending only marks it."""

from __future__ import annotations

from services.notify.channels.base import ChannelAdapter, OutgoingMessage, SendResult
from services.notify.channels.wiring import wires
from shared.settings import Settings


class InboxChannel(ChannelAdapter):
    name = "inbox"
    provider = "inbox"

    async def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(channel=self.name, provider=self.provider, detail="stored")


@wires("inbox")
def inbox_channel(settings: Settings) -> ChannelAdapter:
    """Always there: it needs no settings."""
    return InboxChannel()
