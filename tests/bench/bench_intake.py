"""Tip intake over HTTP: tips/s and p50/p99 at a fixed concurrency, against a bare FastAPI endpoint.

The tips service runs as `antq serve tips` would (uvicorn in its own process, SQLite, a real NATS); the bare
endpoint runs under the same uvicorn. Both are driven by the same closed-loop client. The first variant is the
production shape (SQLite synchronous FULL, receipts HMAC-SHA-256 under a key file, the outbox, the duplicate
finder); the others change one thing each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import nats

from shared import places
from tests.bench.common import (
    LoadResult,
    RssSampler,
    World,
    bare_process,
    closed_loop,
    encode_request,
    ms,
    percentile,
    processes,
    service_process,
)

CATEGORIES = ("theft", "drugs", "fraud", "cybercrime", "gambling", "public_order", "corruption", "other",
              "school_violence", "state_secrets_leak", "illegal_strike_incitement", "human_trafficking")
COMMUNES = 100
HCMC = places.communes_of("79")  # real communes: every service checks areas against the national list


def tip_body(i: int) -> dict[str, Any]:
    """A province's traffic: tips spread over its communes and the (non-urgent) categories.

    The spread matters: the duplicate finder compares a new tip with every recent tip of the same category and
    place (up to 200), so piling every tip on one commune measures that search rather than intake.
    """
    return {"category": CATEGORIES[i % len(CATEGORIES)], "anonymous": True,
            "area_code": HCMC[(i // len(CATEGORIES)) % COMMUNES].code,
            "description": f"Bench tip {i}: a stranger was seen trying doors in the car park behind block B at night"}


def tip_request(i: int) -> bytes:
    return encode_request("POST", "/tips", body=tip_body(i))


def summarise(res: LoadResult) -> dict[str, Any]:
    return {"tips_per_s": round(res.rate, 1), "p50_ms": ms(percentile(res.latencies, 50)),
            "p99_ms": ms(percentile(res.latencies, 99)), "requests": res.requests, "accepted": res.ok,
            "errors": res.errors, "statuses": {str(k): v for k, v in sorted(res.statuses.items())},
            # Robust to a busy machine: the server's own CPU per accepted request.
            "server_cpu_ms_per_request": round(res.cpu_ms_per_request, 3)}


def receipt_hash_us(rounds: int = 2000) -> float:
    """CPU time of one receipt hash (HMAC-SHA-256), measured here (single thread), in microseconds."""
    from services.tips.domain.secrecy import ReceiptKeys, new_receipt

    keys = ReceiptKeys([ReceiptKeys.generate_key()])
    receipts = [new_receipt() for _ in range(rounds)]
    started = time.process_time()
    for receipt in receipts:
        keys.hash(receipt)
    return round((time.process_time() - started) / rounds * 1e6, 2)


async def _stream_count(nats_url: str, stream: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info(stream)).state.messages)
    finally:
        await nc.close()


@dataclass(frozen=True)
class Variant:
    """One configuration of the tips service under the same load."""

    key: str
    env: dict[str, str] = field(default_factory=dict)
    postgres: bool = False  # its own database on ANTQ_TEST_POSTGRES_URL's server instead of SQLite
    label: str = ""


VARIANTS = (
    Variant("tips", label="production settings: SQLite synchronous=FULL, HMAC receipts, outbox, duplicate finder"),
    Variant("tips_sqlite_normal", {"ANTQ_SQLITE_SYNCHRONOUS": "NORMAL"},
            label="SQLite synchronous=NORMAL (no fsync per commit)"),
    Variant("tips_postgres", postgres=True, label="PostgreSQL"),
)


async def _count_tips(world: World, database_url: str | None) -> int:
    if database_url is None:
        db = sqlite3.connect(world.data_dir / "tips.db")
        try:
            return int(db.execute("SELECT count(*) FROM tips").fetchone()[0])
        finally:
            db.close()
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM tips"))).scalar_one())
    finally:
        await engine.dispose()


async def _tips_intake(nats_url: str, variant: Variant, *, concurrency: int, duration: float, warmup: float,
                       max_requests: int | None) -> dict[str, Any]:
    from shared.testing import create_database, drop_database

    world = World(nats_url)
    env = dict(variant.env)
    admin = os.environ.get("ANTQ_TEST_POSTGRES_URL")
    database_url = None
    if variant.postgres:
        assert admin, "ANTQ_TEST_POSTGRES_URL is needed for the PostgreSQL variant"
        database_url = await create_database(admin, f"bench_{world.namespace}")
        env["ANTQ_TIPS_DATABASE_URL"] = database_url
    proc = service_process(world, "tips", env)
    try:
        async with processes(proc):
            await asyncio.sleep(0.5)  # let start-up work (scheduler pass, gauges) settle before "at rest"
            rest = proc.rss()
            async with RssSampler({"tips": proc.pid}) as rss:
                res = await closed_loop(proc.port, tip_request, concurrency=concurrency, duration=duration,
                                        warmup=warmup, max_requests=max_requests, server_pid=proc.pid)
            # Every accepted tip is stored, and its TipReceived reaches the stream through the outbox.
            stored = await _count_tips(world, database_url)
            deadline = time.monotonic() + 30
            published = 0
            while time.monotonic() < deadline:
                published = await _stream_count(nats_url, f"{world.namespace}_TIPS")
                if published >= res.total_ok:
                    break
                await asyncio.sleep(0.1)
        out = summarise(res)
        out.update(variant=variant.label, rss_rest_mib=round(rest, 1),
                   rss_peak_mib=round(rss.peak["tips"], 1), answered_202=res.total_ok, stored=stored,
                   published=published)
        return out
    finally:
        world.cleanup()
        if variant.postgres and admin:
            with contextlib.suppress(Exception):
                await drop_database(admin, f"bench_{world.namespace}")


async def _bare(nats_url: str, *, concurrency: int, duration: float, warmup: float,
                max_requests: int | None) -> dict[str, Any]:
    world = World(nats_url)
    proc = bare_process(world)
    try:
        async with processes(proc):
            res = await closed_loop(proc.port, tip_request, concurrency=concurrency, duration=duration,
                                    warmup=warmup, max_requests=max_requests,
                                    server_pid=proc.pid)
        return summarise(res)
    finally:
        world.cleanup()


async def run(nats_url: str, *, concurrency: int = 32, duration: float = 6.0, warmup: float = 1.0,
              max_requests: int | None = None,
              variants: tuple[str, ...] = ("tips", "tips_sqlite_normal", "tips_postgres")) -> dict[str, Any]:
    """Bare endpoint first, then the tips service in each variant; ratios are to the bare figure. The PostgreSQL
    variant runs only when ANTQ_TEST_POSTGRES_URL names a server."""
    bare = await _bare(nats_url, concurrency=concurrency, duration=duration, warmup=warmup,
                       max_requests=max_requests)
    result: dict[str, Any] = {"concurrency": concurrency, "bare": bare}
    for variant in VARIANTS:
        if variant.key not in variants or (variant.postgres and not os.environ.get("ANTQ_TEST_POSTGRES_URL")):
            continue
        tips = await _tips_intake(nats_url, variant, concurrency=concurrency, duration=duration, warmup=warmup,
                                  max_requests=max_requests)
        tips["ratio"] = round(tips["tips_per_s"] / bare["tips_per_s"], 3) if bare["tips_per_s"] else None
        tips["receipt_hash_us"] = receipt_hash_us()
        result[variant.key] = tips
    return result
