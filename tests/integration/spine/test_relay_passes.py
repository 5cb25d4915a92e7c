"""The outbox relay's passes (real SQLite outbox, a publisher that acknowledges at once): a short batch is not
followed by a read of the empty outbox; a commit made while a pass publishes is published by the next pass at
once, not at the poll interval."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shared.bus.relay import OutboxRelay
from shared.bus.streams import Namespace
from shared.contracts.events import TipReceived
from shared.db import Database, outbox
from shared.testing import eventually
from tests.integration.batch_support import fresh_database

POLL = 3600.0  # never reached here: every pass below is started by a commit


def tip_event() -> TipReceived:
    return TipReceived(tip_id=str(uuid.uuid4()), category="theft", channel="web", area_code="79", anonymous=True,
                       priority="normal", received_at=datetime.now(UTC))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await fresh_database(tmp_path / "tips.db", "tips")
    try:
        yield database
    finally:
        await database.dispose()


class Recording(OutboxRelay):
    """The relay, recording how many rows each of its passes published."""

    passes: list[int]

    async def publish_pending(self) -> int:
        published = await super().publish_pending()
        self.passes.append(published)
        return published


async def emit(db: Database, n: int = 1) -> None:
    async with db.unit_of_work() as uow:
        for _ in range(n):
            uow.emit(tip_event())


async def sent(db: Database) -> int:
    async with db.read() as session:
        return len((await session.execute(select(outbox.c.seq).where(outbox.c.state == "sent"))).all())


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        relay.stop()
        await task


async def test_a_short_batch_is_not_followed_by_a_read_of_the_empty_outbox(db: Database) -> None:
    async def publish_many(messages: list[tuple[str, bytes, dict[str, str]]]) -> list[Any]:
        return [object() for _ in messages]

    relay = Recording(db, publish_many, namespace=Namespace("t"), metrics=None, poll_interval=POLL)
    relay.passes = []
    await emit(db, 3)
    async with running(relay):
        for round_ in range(1, 5):
            await eventually(functools.partial(_published, relay, 3 * round_), what=f"batch {round_} published")
            if round_ < 4:
                await emit(db, 3)  # committed once the pass before has returned
        # One pass per commit, each publishing its batch; every batch used to be followed by a pass that read the
        # outbox again and found nothing.
        assert relay.passes == [3, 3, 3, 3]
    assert await sent(db) == 12


async def test_a_commit_during_a_pass_is_published_by_the_next_one(db: Database) -> None:
    first = asyncio.Event()
    calls = 0

    async def publish_many(messages: list[tuple[str, bytes, dict[str, str]]]) -> list[Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await emit(db)  # committed after this pass read the outbox
            first.set()
        return [object() for _ in messages]

    relay = OutboxRelay(db, publish_many, namespace=Namespace("t"), metrics=None, poll_interval=POLL)
    async with running(relay):
        await emit(db)
        await first.wait()
        # With the poll interval an hour, only the commit's wake-up can bring the second row out.
        await eventually(lambda: _sent_is(db, 2), what="both rows sent")


async def _sent_is(db: Database, n: int) -> bool:
    return await sent(db) == n


async def _published(relay: Recording, n: int) -> bool:
    return sum(relay.passes) == n
