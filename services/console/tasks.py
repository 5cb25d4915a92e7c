"""Live updates: one poller per topic (a tip queue's area, a person's inbox) in the console process, fanned out
to every open page's event stream, so that eight open queues of one area cost one poll of the tips service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Poll = Callable[[], Awaitable[str | None]]


@dataclass(eq=False)
class _Topic:
    poll: Poll
    subscribers: set[asyncio.Queue[str]] = field(default_factory=set)
    mark: str | None = None  # the newest item seen; None until the first answer
    task: asyncio.Task[None] | None = None


class LiveHub:
    """Topics keyed by what their poll reads; a topic's poller runs while at least one stream listens to it.

    `poll` answers the newest item's id ("" for none), or None when the service could not be asked (the next
    round asks again). A change of the mark after the first answer is sent to every subscriber. A subscriber's
    queue holds one pending mark at most: a page fetches everything new at once, so older marks add nothing.
    """

    def __init__(self, interval: float, *, polled: Callable[[str], None] | None = None):
        self.interval = interval
        self.polled = polled or (lambda _name: None)
        self.topics: dict[Hashable, _Topic] = {}

    def subscribers(self, key: Hashable) -> int:
        topic = self.topics.get(key)
        return len(topic.subscribers) if topic else 0

    @contextlib.asynccontextmanager
    async def subscribe(self, key: tuple[str, ...], poll: Poll) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of news for `key`; the first subscriber's `poll` serves every later one of the same key."""
        inbox: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        topic = self.topics.get(key)
        if topic is None:
            topic = self.topics[key] = _Topic(poll)
            topic.task = asyncio.create_task(self._run(key[0], topic), name=f"console-live-{key[0]}")
        topic.subscribers.add(inbox)
        try:
            yield inbox
        finally:
            topic.subscribers.discard(inbox)
            if not topic.subscribers and self.topics.get(key) is topic:
                del self.topics[key]
                assert topic.task is not None
                topic.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await topic.task

    async def _run(self, name: str, topic: _Topic) -> None:
        while True:
            try:
                mark = await topic.poll()
            except Exception as exc:  # noqa: BLE001 — a failed poll is retried next round; pages keep their stream
                log.warning("console live poll of %s failed: %s", name, type(exc).__name__)
                mark = None
            self.polled(name)
            if mark is not None:
                if topic.mark is not None and mark != topic.mark:
                    for inbox in list(topic.subscribers):
                        with contextlib.suppress(asyncio.QueueFull):
                            inbox.put_nowait(mark)
                topic.mark = mark
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        for topic in list(self.topics.values()):
            if topic.task is not None:
                topic.task.cancel()
        self.topics.clear()
