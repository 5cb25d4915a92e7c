"""The in-app inbox channel: the store writes the inbox row in the delivery's transaction; sending only marks it."""

from __future__ import annotations

from services.notify.channels.base import Channel, OutgoingMessage, SendResult


class InboxChannel(Channel):
    name = "inbox"
    provider = "inbox"

    async def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(channel=self.name, provider=self.provider, detail="stored")
