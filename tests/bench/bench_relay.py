"""Outbox relay throughput: events/s from committed outbox rows to PubAcked stream messages, against raw
nats-py publishing of the same messages with the same window of PubAcks in flight.

What a campaign leans on: every state change of 25,000 units is an outbox row the relay must publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import nats
from sqlalchemy import func, insert, select

from shared import places
from shared.bus.streams import Namespace, ensure_streams
from shared.contracts.envelope import new_event
from shared.contracts.events import UnitRegistered
from shared.db import Database, outbox, spine_metadata
from shared.service import Service
from tests.bench.common import World, publish_pipelined

HCMC = places.communes_of("79")  # real communes: every service checks areas against the national list


def unit_events(n: int) -> list[Any]:
    return [new_event(UnitRegistered(unit_id=str(uuid.uuid4()), name=f"Bench unit {i}", kind="enterprise",
                                     area_code=HCMC[i % 50].code, in_scope=True),
                      source="antq/units") for i in range(n)]


async def _fill_outbox(db: Database, events: list[Any]) -> None:
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        await conn.run_sync(spine_metadata.create_all)
        for i in range(0, len(events), 1000):
            await conn.execute(insert(outbox), [
                {"event_id": e.id, "subject": e.type, "event_type": e.type, "payload": e.to_bytes(),
                 "state": "pending", "attempts": 0, "created_at": now} for e in events[i:i + 1000]])


async def run(nats_url: str, *, n: int = 10_000, batch_size: int | None = None,
              timeout: float = 180) -> dict[str, Any]:
    from shared.settings import Settings

    world = World(nats_url)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        settings = world.settings()
        batch = batch_size or Settings().relay_batch_size
        await ensure_streams(js, settings)
        ns = Namespace(world.namespace)
        # Baseline: the same messages published straight from memory, `batch` PubAcks in flight at a time.
        raw_events = unit_events(n)
        raw_s = await publish_pipelined(js, [(ns.subject(e.type), e.to_bytes(), e.id) for e in raw_events],
                                        window=batch)
        # The relay of a service (its own publish function), over rows committed in a SQLite outbox.
        service = Service("benchrelay", world.settings(migrate_on_start=False, relay_batch_size=batch),
                          title="bench relay")
        await _fill_outbox(service.db, unit_events(n))
        await service.broker.connect()
        service._bus_ready.set()  # the relay's publish refuses to run before the bus is up
        started = time.perf_counter()
        cpu = time.process_time()
        task = asyncio.create_task(service.relay.run())
        try:
            deadline = started + timeout
            while True:
                async with service.db.read() as session:
                    pending = (await session.execute(
                        select(func.count()).select_from(outbox).where(outbox.c.state == "pending"))).scalar_one()
                if pending == 0:
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"relay left {pending} rows pending after {timeout}s")
                await asyncio.sleep(0.02)
            relay_s = time.perf_counter() - started
            relay_cpu = time.process_time() - cpu
        finally:
            service.relay.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            await service.stop()
        stream = (await js.stream_info(ns.stream("UNITS"))).state.messages
        return {"events": n, "batch": batch,
                "raw": {"events_per_s": round(n / raw_s, 1)},
                "relay": {"events_per_s": round(n / relay_s, 1), "ratio": round(raw_s / relay_s, 3),
                          "cpu_ms_per_event": round(relay_cpu / n * 1000, 3)},
                "stream_messages": stream}
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        world.cleanup()
