"""The outbox relay: publishes committed outbox rows to JetStream, waits for PubAcks, marks them sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select, update

from shared.backoff import Backoff
from shared.bus.streams import Namespace
from shared.db import Database, chunks, outbox, utcnow
from shared.observability import SpineMetrics

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, dict[str, str]], Awaitable[Any]]
# Publishes a batch at once; returns, per message, its PubAck or the exception that stopped it.
PublishMany = Callable[[list[tuple[str, bytes, dict[str, str]]]], Awaitable[list[Any]]]


def one_by_one(publish: Publish) -> PublishMany:
    """A batch publisher from one that publishes a message and awaits its PubAck (all of the batch at once)."""

    async def publish_many(messages: list[tuple[str, bytes, dict[str, str]]]) -> list[Any]:
        return await asyncio.gather(*(publish(*m) for m in messages), return_exceptions=True)

    return publish_many

# Under load the backlog gauges are refreshed at most this often (each refresh is a query); an idle pass
# sets them to zero without one.
GAUGE_INTERVAL = 1.0


class OutboxRelay:
    """Publishes pending outbox rows in order, pipelined: a batch is sent at once and its PubAcks awaited.

    A crash between commit and publish loses nothing (the row stays pending); a crash after publish and
    before marking re-publishes the row, which JetStream drops as a duplicate by its `Nats-Msg-Id`.
    """

    def __init__(self, db: Database, publish_many: PublishMany, *, namespace: Namespace,
                 metrics: SpineMetrics | None, batch_size: int = 500, poll_interval: float = 0.5):
        self.db = db
        self.publish_many = publish_many
        self.ns = namespace
        self.metrics = metrics
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self.last_error: str | None = None
        self._gauges_at = 0.0
        db.on_outbox_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        backoff = Backoff(first=min(self.poll_interval * 2, 10.0), cap=10.0)
        while not self._stopping:
            # Cleared before the pass reads: a commit after that read wakes the next pass, one before it is read.
            self._wake.clear()
            try:
                published = await self.publish_pending()
                backoff.succeeded()
            except Exception as exc:  # noqa: BLE001 — the relay must outlive any failure of NATS or the DB
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay pass failed: %s", self.last_error)
                self._wake.clear()  # a failed pass waits out its backoff, whatever was committed meanwhile
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=backoff.failed())
                continue
            # A full batch may have left rows behind: read again at once. A short one took every row committed
            # before its read, so the next pass waits for a commit (or the poll interval) instead of reading an
            # empty outbox after every batch.
            if published >= self.batch_size or self._wake.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def publish_pending(self) -> int:
        """One pass: publish up to a batch of pending rows. Returns how many were published."""
        async with self.db.read() as session:
            rows = (await session.execute(
                select(outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.payload)
                .where(outbox.c.state == "pending").order_by(outbox.c.seq).limit(self.batch_size)
            )).all()
        if not rows:
            self._set_gauges_idle()
            return 0
        messages = [(self.ns.subject(r.subject), r.payload, {"Nats-Msg-Id": r.event_id}) for r in rows]
        results = await self.publish_many(messages)
        sent = [r.seq for r, res in zip(rows, results, strict=True) if not isinstance(res, BaseException)]
        failed = [(r.seq, res) for r, res in zip(rows, results, strict=True) if isinstance(res, BaseException)]
        now = utcnow()
        async with self.db.write_lock(), self.db.sessionmaker() as session, session.begin():
            if sent:
                for chunk in chunks(sent):
                    await session.execute(update(outbox).where(outbox.c.seq.in_(chunk))
                                          .values(state="sent", sent_at=now, attempts=outbox.c.attempts + 1))
            for seq, exc in failed:
                await session.execute(update(outbox).where(outbox.c.seq == seq).values(
                    attempts=outbox.c.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]))
        if self.metrics:
            self.metrics.outbox_published.inc(len(sent))
            if failed:
                self.metrics.outbox_failures.inc(len(failed))
        # A short batch that went out took every pending row there was: the next pass finds none and zeroes the
        # gauges without a query. A backlog or failures are counted, at most once per GAUGE_INTERVAL.
        if (failed or len(rows) == self.batch_size) and time.monotonic() - self._gauges_at >= GAUGE_INTERVAL:
            await self._update_gauges()
        if failed:
            self.last_error = f"{type(failed[0][1]).__name__}: {failed[0][1]}"
            raise RuntimeError(f"{len(failed)} of {len(rows)} outbox rows failed to publish: {self.last_error}")
        self.last_error = None
        return len(sent)

    def _set_gauges_idle(self) -> None:
        # Nothing was pending: no need to ask the database.
        if self.metrics:
            self.metrics.outbox_pending.set(0)
            self.metrics.outbox_oldest_age.set(0)

    async def _update_gauges(self) -> None:
        self._gauges_at = time.monotonic()
        if not self.metrics:
            return
        async with self.db.read() as session:
            count, oldest = (await session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.state == "pending")
            )).one()
        self.metrics.outbox_pending.set(count or 0)
        if oldest is not None:
            if isinstance(oldest, str):  # SQLite aggregate results bypass the column type
                from datetime import datetime

                oldest = datetime.fromisoformat(oldest)
            if oldest.tzinfo is None:
                from datetime import UTC

                oldest = oldest.replace(tzinfo=UTC)
            self.metrics.outbox_oldest_age.set(max(0.0, (utcnow() - oldest).total_seconds()))
        else:
            self.metrics.outbox_oldest_age.set(0)
