"""The channel plugin interface: one `send` per channel kind, a registry by name, the message every channel takes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.notify.domain.channels import ChannelName
from services.notify.domain.retry import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = [
    "ChannelAdapter", "ChannelRegistry", "DeliveryError", "OutgoingMessage", "PermanentDeliveryError", "SendResult",
    "TransientDeliveryError",
]


class OutgoingMessage(BaseModel):
    """One rendered notification on its way out. `body` is the exact webhook payload (the signed bytes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notification_id: str
    channel: ChannelName
    recipient_id: str
    target: str | None = None
    subject: str | None = None
    text: str = ""
    html: str | None = None
    body: bytes | None = None
    # The webhook subscription's signing secret; never logged, never stored in the delivery log.
    secret: str | None = Field(default=None, repr=False)


class SendResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str
    provider: str = Field(description="which provider delivered: the channel's own, or a failover backup")
    detail: str | None = None


class ChannelAdapter:
    """Base of every channel plugin. `send` returns on success and raises a DeliveryError otherwise:
    PermanentDeliveryError when trying again cannot help, TransientDeliveryError when it might."""

    name: str = ""
    provider: str = ""

    async def send(self, message: OutgoingMessage) -> SendResult:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections; most channels hold none."""


class ChannelRegistry:
    """Channel adapters by name; the delivery worker asks it for the channel of each intent."""

    def __init__(self, channels: list[ChannelAdapter] | None = None) -> None:
        self._channels: dict[str, ChannelAdapter] = {}
        for channel in channels or []:
            self.register(channel)

    def register(self, channel: ChannelAdapter) -> None:
        if not channel.name:
            raise ValueError("a channel needs a name")
        self._channels[channel.name] = channel

    def get(self, name: str) -> ChannelAdapter:
        try:
            return self._channels[name]
        except KeyError:
            raise PermanentDeliveryError(f"no channel named {name!r} is configured") from None

    def names(self) -> list[str]:
        return sorted(self._channels)

    async def aclose(self) -> None:
        for channel in self._channels.values():
            await channel.aclose()
