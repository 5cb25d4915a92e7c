"""A channel with a backup provider: after the primary fails `threshold` times in a row, the backup carries the load."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.notify.channels.base import ChannelAdapter, OutgoingMessage, SendResult
from services.notify.domain.retry import TransientDeliveryError


class FailoverChannel(ChannelAdapter):
    """A small circuit breaker around the primary provider.

    - Closed: every message goes to the primary. A transient failure counts; a success resets the count.
    - After `threshold` consecutive transient failures it opens: the message that tripped it, and every message
      for the next `cooldown_seconds`, goes to the backup.
    - After the cooldown one message tries the primary again (half-open); success closes the circuit, failure
      reopens it at once and that message falls back to the backup.
    Permanent failures say the message itself is wrong (a bad address), not the provider, so they are raised
    as they are and do not count.
    """

    def __init__(
        self,
        primary: ChannelAdapter,
        backup: ChannelAdapter,
        threshold: int = 3,
        *,
        cooldown_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        if primary.name != backup.name:
            raise ValueError("primary and backup must be the same kind of channel")
        self.name = primary.name
        self.provider = f"{primary.provider}|{backup.provider}"
        self.primary = primary
        self.backup = backup
        self.threshold = threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self.consecutive_failures = 0
        self.opened_at: float | None = None

    @property
    def using_backup(self) -> bool:
        return self.opened_at is not None and self._clock() - self.opened_at < self.cooldown_seconds

    async def send(self, message: OutgoingMessage) -> SendResult:
        if self.using_backup:
            return await self.backup.send(message)
        try:
            result = await self.primary.send(message)
        except TransientDeliveryError:
            self.consecutive_failures += 1
            if self.consecutive_failures < self.threshold:
                raise
            self.opened_at = self._clock()
            return await self.backup.send(message)
        self.consecutive_failures = 0
        self.opened_at = None
        return result

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.backup.aclose()
