"""The consumers' pull loop: long-poll a durable pull consumer for a batch, hand it to the runner, fetch the next
batch while this one is processed.

The spine owns this loop rather than using FastStream's subscriber: it already bypasses FastStream's decoding,
acknowledging and publishing (the runner reads the raw bytes and settles each message after its transaction
commits), so FastStream's batch subscriber added only its loop, which had to be replaced to be usable (it sent a
stream of short pull requests whose expiry raced deliveries, and caught the wrong `TimeoutError` class), and a
middleware pass per batch. Owning the loop leaves no patch of FastStream's internals (docs/benchmarks.md compares
the two); FastStream still connects the broker and writes the AsyncAPI document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext

log = logging.getLogger(__name__)

# How long a fetch waits for the first message (a long poll: it returns as soon as one arrives).
FIRST_MESSAGE_WAIT = 5.0
# After a fetch failed (the connection is closed or reconnecting): wait this long before the next one.
FETCH_ERROR_PAUSE = 0.5

_STATUS = "Status"
_REQUEST_TIMEOUT, _HEARTBEAT = "408", "100"


async def _take(sub: Any, queue: asyncio.Queue[Any]) -> Any:
    msg = queue.get_nowait() if not queue.empty() else await queue.get()
    sub._pending_size -= len(msg.data)
    queue.task_done()
    return msg


async def pull_batch(psub: Any, batch: int, *, first_wait: float, more_wait: float) -> list[Any]:
    """Up to `batch` messages of a pull consumer: one long poll for the first (it returns as soon as one arrives,
    `[]` after `first_wait`), then one `no_wait` request for whatever else is waiting.

    Equivalent to nats-py's `fetch(1, first_wait)` then `fetch(batch - 1, more_wait)`, which it replaces on the
    hot path: nats-py waits for each message of a batch with its own task and timer (`next_msg`) (see
    docs/benchmarks.md for what that cost). Here the messages are read straight off the subscription's queue and a
    single deadline bounds each request. Status messages (no messages, request timeout, heartbeats) end or
    continue a request; they are never returned. `psub` is a nats-py `JetStreamContext.PullSubscription`; the
    attributes of it read here are pinned by tests/unit/shared/test_pull_loop.py.
    """
    sub = psub._sub
    nc = psub._nc
    if nc.is_closed:
        from nats.errors import ConnectionClosedError

        raise ConnectionClosedError
    queue: asyncio.Queue[Any] = sub._pending_queue
    # Leftovers of an earlier request (a late status message) are dropped; a message is kept.
    messages: list[Any] = []
    while not queue.empty() and len(messages) < batch:
        msg = await _take(sub, queue)
        if not (msg.headers and msg.headers.get(_STATUS)):
            messages.append(msg)
    if not messages:
        expires = int(first_wait * 1_000_000_000)
        await nc.publish(psub._nms, b'{"batch":1,"expires":%d}' % expires, psub._deliver)
        try:
            async with asyncio.timeout(first_wait + 0.5):
                while not messages:
                    msg = await _take(sub, queue)
                    status = msg.headers.get(_STATUS) if msg.headers else None
                    if status is None:
                        messages.append(msg)
                    elif status == _REQUEST_TIMEOUT:
                        return []
        except TimeoutError:
            return []
    needed = batch - len(messages)
    if needed <= 0:
        return messages
    await nc.publish(psub._nms, b'{"batch":%d,"no_wait":true}' % needed, psub._deliver)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(more_wait + 1.0):
            while needed > 0:
                msg = await _take(sub, queue)
                status = msg.headers.get(_STATUS) if msg.headers else None
                if status is None:
                    messages.append(msg)
                    needed -= 1
                elif status != _HEARTBEAT:
                    break  # no more messages (404, 408), or the request was refused (409): take what came
    return messages


class PullLoop:
    """One durable consumer's loop: bind to it, then fetch a batch and give it to `handle` until stopped.

    The next batch is fetched while one is processed: its messages travel and are parsed while the handler waits
    for the database (a commit's fsync), instead of after it. Stopping lets the batch in hand finish (up to
    `graceful`), and hands a batch fetched ahead back (NAK) for immediate redelivery, not after `ack_wait`.
    """

    def __init__(self, *, stream: str, durable: str, handle: Callable[[list[Msg]], Awaitable[None]],
                 batch: int, more_wait: float, inbox_prefix: bytes, first_wait: float = FIRST_MESSAGE_WAIT):
        self.stream = stream
        self.durable = durable
        self.handle = handle
        self.batch = batch
        self.more_wait = more_wait
        self.first_wait = first_wait
        self.inbox_prefix = inbox_prefix
        self.running = False
        self._psub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._processing = False

    @property
    def alive(self) -> bool:
        return self.running and self._task is not None and not self._task.done()

    async def start(self, js: JetStreamContext) -> None:
        self._psub = await js.pull_subscribe_bind(self.durable, self.stream, inbox_prefix=self.inbox_prefix)
        self.running = True
        self._task = asyncio.create_task(self._run(self._psub), name=f"pull-{self.durable}")

    async def stop(self, graceful: float = 10.0) -> None:
        """Finish the batch in hand (at most `graceful` seconds), then stop fetching and unsubscribe."""
        self.running = False
        task, self._task = self._task, None
        if task is not None:
            if not self._processing:
                task.cancel()  # waiting for messages: nothing in hand
            await asyncio.wait({task}, timeout=graceful)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        psub, self._psub = self._psub, None
        if psub is not None:
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    async def _fetch(self, psub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await pull_batch(psub, self.batch, first_wait=self.first_wait, more_wait=self.more_wait)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — closed or reconnecting: unacknowledged messages come back
            log.debug("consumer %s: fetch failed: %s", self.durable, exc)
            await asyncio.sleep(FETCH_ERROR_PAUSE)
            return []

    async def _run(self, psub: JetStreamContext.PullSubscription) -> None:
        ahead: asyncio.Future[list[Msg]] | None = None
        try:
            while self.running:
                messages = await (ahead if ahead is not None else self._fetch(psub))
                ahead = None
                if not messages or not self.running:
                    if messages:
                        await _hand_back(messages)
                    continue
                ahead = asyncio.ensure_future(self._fetch(psub))
                self._processing = True
                try:
                    await self.handle(messages)
                except Exception:  # unsettled messages are redelivered after ack_wait
                    log.exception("consumer %s: batch of %d failed", self.durable, len(messages))
                finally:
                    self._processing = False
        finally:
            if ahead is not None:
                await _release(ahead)


async def _release(ahead: asyncio.Future[list[Msg]]) -> None:
    """Stopping: hand back a batch fetched ahead, unprocessed, for immediate redelivery (not after ack_wait)."""
    if not ahead.done():
        ahead.cancel()
    with contextlib.suppress(BaseException):
        await _hand_back(await ahead)


async def _hand_back(messages: list[Msg]) -> None:
    for msg in messages:
        with contextlib.suppress(Exception):
            await msg.nak()
