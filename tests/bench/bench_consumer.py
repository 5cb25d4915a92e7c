"""Event processing per consumer: events/s of a service consumer against raw nats-py pull-fetch-and-ack.

N TipReceived events are published to the TIPS stream first. Then, each on its own durable consumer of the
same messages:
- raw: nats-py `pull_subscribe_bind` + `fetch(batch)` + `ack()` per message, nothing else (the ceiling);
- spine: a service whose consumer handler does nothing, run by the spine (decode, validate, processed_events row, one
  transaction per fetched batch, ack after commit) — the spine's own cost;
- notify: the notify service's `notify-tips` consumer in its own process (`antq serve notify`), routing every
  tip to its area's officers' inbox — the real figure.
Each is timed the same way, from the server's side: from the first delivery to every message acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import nats

from shared import places
from shared.bus.streams import DurableSpec, consumer_config, ensure_streams
from shared.contracts.envelope import new_event
from shared.contracts.events import TipReceived
from tests.bench.common import RssSampler, World, publish_pipelined, service_process, wait_consumed

HCMC = places.communes_of("79")  # real communes: every service checks areas against the national list

CATEGORIES = ("theft", "drugs", "fraud", "cybercrime", "gambling", "public_order")


def tip_events(n: int) -> list[tuple[str, bytes, str]]:
    """(subject type, payload, event id) of n TipReceived events spread over 50 communes of province 79."""
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        data = TipReceived(tip_id=str(uuid.uuid4()), category=CATEGORIES[i % len(CATEGORIES)], channel="api",
                           area_code=HCMC[i % 50].code, anonymous=True, priority="normal",
                           received_at=now)
        env = new_event(data, source="antq/tips")
        out.append((TipReceived.TYPE, env.to_bytes(), env.id))
    return out


async def _raw(js: Any, stream: str, subject: str, n: int, batch: int, timeout: float,
               cpu: list[float]) -> float:
    spec = DurableSpec(stream=stream, durable="bench-raw", filter_subject=subject, ack_wait=30)
    await js.add_consumer(stream, consumer_config(spec))
    sub = await js.pull_subscribe_bind("bench-raw", stream)
    done = 0

    async def drain() -> None:
        nonlocal done
        while done < n:
            with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                for msg in await sub.fetch(batch, timeout=1):
                    await msg.ack()
                    done += 1

    task = asyncio.create_task(drain())
    try:
        first, last = await wait_consumed(js, stream, "bench-raw", expected=n, timeout=timeout,
                                          cpu_of=os.getpid(), cpu_used=cpu)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sub.unsubscribe()
    return n / (last - first)


async def _spine_noop(world: World, n: int, timeout: float, cpu: list[float], batch: int) -> tuple[float, int]:
    """A bare service whose handler does nothing: what the spine costs per event."""
    from sqlalchemy import func, select

    from shared.bus.consumer import Delivery
    from shared.db import UnitOfWork, processed_events, spine_metadata
    from shared.service import Service
    from shared.testing import running

    settings = world.settings(migrate_on_start=False, log_level="WARNING", consumer_batch_size=batch)
    service = Service("benchspine", settings, title="bench spine")

    @service.consumer("tips", stream="TIPS", subject="antq.tips.>", types={TipReceived.TYPE})
    async def noop(delivery: Delivery, uow: UnitOfWork) -> None:
        return None

    async with service.db.engine.begin() as conn:
        await conn.run_sync(spine_metadata.create_all)
    nc, js = await _js(world.nats_url)
    try:
        # Watch from before the start: the consumer starts working before the service reports ready.
        watch = asyncio.create_task(wait_consumed(js, f"{world.namespace}_TIPS", "benchspine-tips", expected=n,
                                                  timeout=timeout, cpu_of=os.getpid(), cpu_used=cpu))
        async with running(service):
            first, last = await watch
            async with service.db.read() as session:
                processed = int((await session.execute(
                    select(func.count()).select_from(processed_events))).scalar_one())
    finally:
        await nc.close()
    return n / (last - first), processed


async def _js(url: str) -> tuple[Any, Any]:
    nc = await nats.connect(url)
    return nc, nc.jetstream()


async def run(nats_url: str, *, n: int = 5000, batch: int | None = None, timeout: float = 180) -> dict[str, Any]:
    """`batch`: the consumers' batch size, the same for the raw baseline and the services (default: the
    services' own `ANTQ_CONSUMER_BATCH_SIZE`)."""
    world = World(nats_url)
    nc, js = await _js(nats_url)
    try:
        settings = world.settings()
        batch = batch or settings.consumer_batch_size
        await ensure_streams(js, settings)
        stream = f"{world.namespace}_TIPS"
        subject = f"{world.namespace}.antq.tips.>"
        events = [(f"{world.namespace}.{t}", payload, mid) for t, payload, mid in tip_events(n)]
        publish_s = await publish_pipelined(js, events)

        cpu: dict[str, list[float]] = {"raw": [], "spine": [], "notify": []}
        raw_rate = await _raw(js, stream, subject, n, batch, timeout, cpu["raw"])
        spine_rate, spine_processed = await _spine_noop(world, n, timeout, cpu["spine"], batch)

        notify = service_process(world, "notify", {"ANTQ_CONSUMER_BATCH_SIZE": str(batch)}).start()
        try:
            # Watch from the start: the consumer works before the service reports ready.
            watch = asyncio.create_task(wait_consumed(js, stream, "notify-tips", expected=n, timeout=timeout,
                                                      cpu_of=notify.pid, cpu_used=cpu["notify"]))
            async with RssSampler({"notify": notify.pid}) as rss:
                await notify.wait_ready()
                first, last = await watch
        finally:
            notify.stop()
        notify_rate = n / (last - first)

        def per_event(used: list[float]) -> float | None:
            return round(used[0] / n * 1000, 3) if used else None

        db = sqlite3.connect(world.data_dir / "notify.db")
        processed = db.execute("SELECT count(*) FROM processed_events WHERE consumer = 'notify-tips'").fetchone()[0]
        inbox_rows = db.execute("SELECT count(*) FROM deliveries WHERE channel = 'inbox'").fetchone()[0]
        db.close()
        return {
            "events": n, "fetch_batch": batch, "publish_s": round(publish_s, 2),
            "raw": {"events_per_s": round(raw_rate, 1), "cpu_ms_per_event": per_event(cpu["raw"])},
            "spine_noop": {"events_per_s": round(spine_rate, 1), "ratio": round(spine_rate / raw_rate, 3),
                           "processed": spine_processed, "cpu_ms_per_event": per_event(cpu["spine"])},
            "notify": {"events_per_s": round(notify_rate, 1), "ratio": round(notify_rate / raw_rate, 3),
                       "cpu_ms_per_event": per_event(cpu["notify"]),
                       "processed": processed, "inbox_deliveries": inbox_rows,
                       "rss_peak_mib": round(rss.peak["notify"], 1)},
        }
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        world.cleanup()
