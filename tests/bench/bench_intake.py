"""Tip intake over HTTP: tips/s and p50/p99 at a fixed concurrency, against a bare FastAPI endpoint.

The tips service runs as `antq serve tips` would (uvicorn in its own process, SQLite, a real NATS); the bare
endpoint runs under the same uvicorn. Both are driven by the same closed-loop client. Intake is measured with
the production argon2 profile for receipts and with the fast one, to separate the deliberate hashing cost from
the rest of the path.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import nats

from tests.bench.common import (
    LoadResult,
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


def tip_body(i: int) -> dict[str, Any]:
    """A province's traffic: tips spread over its communes and the (non-urgent) categories.

    The spread matters: the duplicate finder compares a new tip with every recent tip of the same category and
    place (up to 200), so piling every tip on one commune measures that search rather than intake.
    """
    return {"category": CATEGORIES[i % len(CATEGORIES)], "anonymous": True,
            "area_code": f"79.{26700 + (i // len(CATEGORIES)) % COMMUNES:05d}",
            "description": f"Bench tip {i}: a stranger was seen trying doors in the car park behind block B at night"}


def tip_request(i: int) -> bytes:
    return encode_request("POST", "/tips", body=tip_body(i))


def summarise(res: LoadResult) -> dict[str, Any]:
    return {"tips_per_s": round(res.rate, 1), "p50_ms": ms(percentile(res.latencies, 50)),
            "p99_ms": ms(percentile(res.latencies, 99)), "requests": res.requests, "accepted": res.ok,
            "errors": res.errors, "statuses": {str(k): v for k, v in sorted(res.statuses.items())}}


def argon2_cost_ms(profile: str, rounds: int = 5) -> float:
    """CPU time of one receipt hash with a profile, measured here (single thread)."""
    from services.tips.domain.secrecy import FAST_FOR_TESTS, PRODUCTION, hash_receipt, new_receipt

    prof = FAST_FOR_TESTS if profile == "fast" else PRODUCTION
    receipts = [new_receipt() for _ in range(rounds + 1)]
    hash_receipt(receipts[-1], profile=prof)
    started = time.process_time()
    for receipt in receipts[:rounds]:
        hash_receipt(receipt, profile=prof)
    return round((time.process_time() - started) / rounds * 1000, 2)


async def _stream_count(nats_url: str, stream: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info(stream)).state.messages)
    finally:
        await nc.close()


async def _tips_intake(nats_url: str, profile: str, *, concurrency: int, duration: float, warmup: float,
                       max_requests: int | None) -> dict[str, Any]:
    world = World(nats_url)
    proc = service_process(world, "tips", {"ANTQ_TIPS_ARGON2_PROFILE": profile})
    try:
        async with processes(proc):
            await asyncio.sleep(0.5)  # let start-up work (scheduler pass, gauges) settle before "at rest"
            rest = proc.rss()
            peak = rest
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, proc.rss())
                    await asyncio.sleep(0.1)

            sampler = asyncio.create_task(sample())
            res = await closed_loop(proc.port, tip_request, concurrency=concurrency, duration=duration,
                                    warmup=warmup, max_requests=max_requests)
            sampling = False
            await sampler
            # Every accepted tip is stored, and its TipReceived reaches the stream through the outbox.
            stored = sqlite3.connect(world.data_dir / "tips.db").execute("SELECT count(*) FROM tips").fetchone()[0]
            deadline = time.monotonic() + 30
            published = 0
            while time.monotonic() < deadline:
                published = await _stream_count(nats_url, f"{world.namespace}_TIPS")
                if published >= res.total_ok:
                    break
                await asyncio.sleep(0.1)
        out = summarise(res)
        out.update(profile=profile, rss_rest_mib=round(rest, 1), rss_peak_mib=round(peak, 1),
                   answered_202=res.total_ok, stored=stored, published=published)
        return out
    finally:
        world.cleanup()


async def _bare(nats_url: str, *, concurrency: int, duration: float, warmup: float,
                max_requests: int | None) -> dict[str, Any]:
    world = World(nats_url)
    proc = bare_process(world)
    try:
        async with processes(proc):
            res = await closed_loop(proc.port, tip_request, concurrency=concurrency, duration=duration,
                                    warmup=warmup, max_requests=max_requests)
        return summarise(res)
    finally:
        world.cleanup()


async def run(nats_url: str, *, concurrency: int = 32, duration: float = 6.0, warmup: float = 1.0,
              max_requests: int | None = None, profiles: tuple[str, ...] = ("fast", "standard")) -> dict[str, Any]:
    """Bare endpoint first, then the tips service with each argon2 profile; ratios are to the bare figure."""
    bare = await _bare(nats_url, concurrency=concurrency, duration=duration, warmup=warmup,
                       max_requests=max_requests)
    result: dict[str, Any] = {"concurrency": concurrency, "bare": bare}
    for profile in profiles:
        tips = await _tips_intake(nats_url, profile, concurrency=concurrency, duration=duration, warmup=warmup,
                                  max_requests=max_requests)
        tips["ratio"] = round(tips["tips_per_s"] / bare["tips_per_s"], 3) if bare["tips_per_s"] else None
        tips["argon2_ms_per_hash"] = argon2_cost_ms(profile)
        result[f"tips_{profile}"] = tips
    return result
