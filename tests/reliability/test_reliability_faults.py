"""The full reliability suite (`make reliability`): each fault injected during a mixed load through the platform
started by `antq up`, then the invariants (see harness.py). Every test prints its row of the results table;
the suite prints the whole table at the end."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.reliability.harness import (
    SERVICES,
    Load,
    Platform,
    Poison,
    consumer_results,
    consumers_state,
    hold_exclusive_lock,
    report,
    scenario,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

COUNT, DURATION, RATE = 1500, 150, 25  # operations, seconds (whichever ends first) and operations per second


@pytest.mark.parametrize("service", list(SERVICES))
async def test_kill_9_of_a_service_at_random_points(service: str, start_platform: Callable[..., Platform]) -> None:
    platform = start_platform()
    rng = random.Random(f"kill-{service}")
    outages: list[float] = []

    async def inject(p: Platform, load: Load) -> None:
        for _ in range(3):
            await load.wait_acked(rng.randint(5, 40))
            pid = p.kill(service)
            outages.append(await p.wait_restarted(service, pid))

    verdict = await scenario(platform, fault=f"kill -9 {service} ×3", inject=inject, count=COUNT, rate=RATE,
                             duration=DURATION, seed=rng.randint(0, 10**6))
    verdict.notes.append(f"{service} back after " + ", ".join(f"{s:.1f}s" for s in outages))
    assert verdict.ok, report(verdict)


async def test_kill_9_of_nats_with_file_storage_and_sync_always(start_platform: Callable[..., Platform]) -> None:
    platform = start_platform()
    conf = (platform.data_dir / "nats.conf").read_text()
    assert "sync_interval: always" in conf and "store_dir" in conf
    rng = random.Random("kill-nats")
    outages: list[float] = []

    async def inject(p: Platform, load: Load) -> None:
        for _ in range(2):
            await load.wait_acked(rng.randint(10, 40))
            pid = p.kill("nats")
            outages.append(await p.wait_restarted("nats", pid))
            await p.wait_all_ready(timeout=90)

    verdict = await scenario(platform, fault="kill -9 nats-server ×2", inject=inject, count=COUNT, rate=RATE,
                             duration=DURATION, seed=11)
    verdict.notes.append("nats-server back after " + ", ".join(f"{s:.1f}s" for s in outages))
    assert verdict.ok, report(verdict)


async def test_databases_locked_then_back(start_platform: Callable[..., Platform]) -> None:
    """SQLite made unavailable to writers: `BEGIN EXCLUSIVE` held from another connection. First on all four
    databases for 8 s (less than the services' 30 s busy timeout: writers wait); then on notify's alone for 40 s
    while tips keep arriving (its consumers cannot commit: they must retry, never dead-letter good events); then
    on tips' alone for 40 s (the public intake waits, then fails: a request that failed is not acknowledged,
    and nothing acknowledged may be lost)."""
    platform = start_platform()
    held: list[str] = []

    async def inject(p: Platform, load: Load) -> None:
        await load.wait_acked(20)
        results = await asyncio.gather(*(hold_exclusive_lock(p.db_path(s), 8) for s in SERVICES))
        held.append("all four 8s: " + ", ".join(f"{s} {t:.1f}s" for s, t in zip(SERVICES, results, strict=True)))
        for service in ("notify", "tips"):
            await load.wait_acked(20)
            held.append(f"{service} alone {await hold_exclusive_lock(p.db_path(service), 40):.1f}s")

    verdict = await scenario(platform, fault="SQLite locked (8s all; 40s notify; 40s tips)", inject=inject,
                             count=2 * COUNT, rate=RATE, duration=DURATION + 90, seed=21)
    verdict.notes.extend(held)
    assert verdict.ok, report(verdict)


async def test_slow_consumers_past_their_ack_wait_and_redeliveries(start_platform: Callable[..., Platform]) -> None:
    """With a 2 s ack wait, each consuming service in turn is made slower than its ack deadline: frozen (SIGSTOP)
    for 3 s, let run for 0.3 s (it fetches the backlog and starts on it), frozen again, three times. JetStream
    redelivers what it holds unacknowledged; when it runs again it finishes the stale batch and then sees the
    redeliveries, which its processed_events table turns into no-ops (counted as `duplicate` in
    antq_consumer_messages_total)."""
    platform = start_platform(env={"ANTQ_CONSUMER_ACK_WAIT": "2"})
    redelivered: Counter[str] = Counter()

    async def inject(p: Platform, load: Load) -> None:
        for service in ("notify", "tips", "units", "awards"):
            await load.wait_acked(15)
            for _ in range(3):
                p.signal(service, signal.SIGSTOP)
                await asyncio.sleep(3)  # the fault itself: a consumer slower than its ack deadline
                p.signal(service, signal.SIGCONT)
                await asyncio.sleep(0.3)
                for name, state in (await consumers_state(load.js)).items():
                    redelivered[name] = max(redelivered[name], state["num_redelivered"])

    verdict = await scenario(platform, fault="SIGSTOP 3s ×3 > ack_wait 2s, each service", inject=inject,
                             count=COUNT, rate=RATE, duration=DURATION, seed=31)
    async with httpx.AsyncClient(timeout=5) as http:
        absorbed = await consumer_results(http, platform, "duplicate")
    verdict.notes.append(f"redelivered while slow (max seen): {dict(+redelivered)}; "
                         f"redeliveries absorbed by processed_events: {dict(+absorbed)}")
    assert verdict.ok, report(verdict)
    assert sum(redelivered.values()) + sum(absorbed.values()) > 0, "no redelivery happened: " + report(verdict)


async def test_a_burst_of_poison_on_every_consumed_subject(start_platform: Callable[..., Platform]) -> None:
    platform = start_platform()
    poison = Poison()

    async def inject(p: Platform, load: Load) -> None:
        await load.wait_acked(20)
        await poison.inject(load.js, per_kind=3)
        await load.wait_acked(20)
        await poison.inject(load.js, per_kind=2)

    verdict = await scenario(platform, fault="poison burst on every consumed subject", inject=inject,
                             count=COUNT, rate=RATE, duration=DURATION, seed=41, poison=poison)
    verdict.notes.append(f"{poison.sent} poison messages on {len(poison.subjects)} subjects: "
                         + ", ".join(sorted(poison.subjects)))
    assert poison.sent > 0 and verdict.dlq_expected > 0
    assert verdict.ok, report(verdict)
