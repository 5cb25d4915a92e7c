"""Helpers of the tests that compare a batch handled at once with the same events handled one at a time."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.bus.consumer import Delivery
from shared.contracts.envelope import new_event
from shared.contracts.events import EventData
from shared.db import Database, UnitOfWork
from shared.migrations import migrate


def interleave(lanes: Sequence[Sequence[EventData]], rng: random.Random) -> list[EventData]:
    """Each lane's events in order (as a stream keeps one aggregate's events), the lanes mixed at random."""
    pending = [list(lane) for lane in lanes if lane]
    out: list[EventData] = []
    while pending:
        lane = rng.choice(pending)
        out.append(lane.pop(0))
        if not lane:
            pending.remove(lane)
    return out


def deliveries_of(events: Sequence[EventData], *, source: str, time: datetime) -> list[Delivery]:
    """The events as a consumer receives them, with stable ids (`ev-000`, `ev-001`, ...)."""
    out = []
    for i, data in enumerate(events):
        env = new_event(data, source=source, event_id=f"ev-{i:03d}", time=time)
        out.append(Delivery(envelope=env, data=data, event_type=data.TYPE, agency=None, num_delivered=1))
    return out


async def fresh_database(path: Path, service: str) -> Database:
    """A new SQLite database at `path` with the service's migrations applied."""
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url, service)
    return Database(url, source=f"antq/{service}")


@contextlib.asynccontextmanager
async def batched_and_single(tmp_path: Path, fresh: Callable[[Path], Awaitable[Database]],
                             handle: Callable[[list[Delivery], UnitOfWork], Awaitable[Any]],
                             events: Sequence[Delivery], size: int) -> AsyncIterator[tuple[Database, Database]]:
    """Two fresh databases: the events handled `size` at a time in one, one at a time in the other."""
    batched, single = await fresh(tmp_path / "batch.db"), await fresh(tmp_path / "one.db")
    try:
        for start in range(0, len(events), size):
            async with batched.unit_of_work() as uow:
                await handle(list(events[start:start + size]), uow)
        for delivery in events:
            async with single.unit_of_work() as uow:
                await handle([delivery], uow)
        yield batched, single
    finally:
        await batched.dispose()
        await single.dispose()
