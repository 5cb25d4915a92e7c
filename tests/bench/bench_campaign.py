"""The provincial campaign: the units figure (`bench_units_campaign.run`) and the same campaign followed
downstream, with the awards and notify services consuming its events, until both have caught up.

The downstream run drives the units service exactly as `bench_units_campaign` does (in-process, through its
HTTP API) in a namespace where `antq serve awards` and `antq serve notify` are listening, and measures the
total wall time from the import to the last event processed by both, the awards proposed, the notifications
delivered, and the memory of every service.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import nats

from tests.bench.common import (
    RssSampler,
    World,
    cpu_seconds,
    processes,
    publish_pipelined,
    service_process,
)


def campaign_module() -> ModuleType | None:
    try:
        return importlib.import_module("tests.bench.bench_units_campaign")
    except ImportError:
        return None


async def run_units(n_units: int = 25000) -> dict[str, Any]:
    """The units engineer's campaign figure, with the memory of the process that hosts the units service."""
    mod = campaign_module()
    if mod is None or not hasattr(mod, "run"):
        return {"status": "pending", "message": "tests/bench/bench_units_campaign.py (async run(n_units)) is not "
                                                "there yet; the campaign figure is pending"}
    async with RssSampler({"units+driver": os.getpid()}) as rss:
        result: dict[str, Any] = await mod.run(n_units)
    result["rss_peak_mib"] = round(rss.peak["units+driver"], 1)
    return result


async def _count_subject(js: Any, stream: str, subject: str) -> int:
    info = await js.stream_info(stream, subjects_filter=subject)
    return int(sum((info.state.subjects or {}).values()))


async def processed_reaches(db_path: Path, durable: str, expected: int, *, timeout: float,
                            interval: float = 0.05) -> float:
    """When (perf_counter) the consumer's rows in a service's processed_events table (its SQLite database) first
    numbered `expected`."""
    deadline = time.perf_counter() + timeout
    while True:
        count = 0
        if db_path.exists():
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
            try:
                with contextlib.suppress(sqlite3.OperationalError):
                    count = db.execute("SELECT count(*) FROM processed_events WHERE consumer = ?",
                                       (durable,)).fetchone()[0]
            finally:
                db.close()
        now = time.perf_counter()
        if count >= expected:
            return now
        if now > deadline:
            raise TimeoutError(f"{durable}: {count} of {expected} events in {timeout}s")
        await asyncio.sleep(interval)


# What the awards-units consumer acts on (the others of the units stream it acknowledges and skips).
AWARDS_UNIT_TYPES = ("antq.units.UnitRegistered.v1", "antq.units.UnitUpdated.v1", "antq.units.UnitCertified.v1",
                     "antq.units.CertificationRevoked.v1")
HISTORY_EVERY = 10  # one unit in ten was recognised ANTT in the two years before the campaign


def history_events(namespace: str, units: dict[str, list[str]]) -> list[tuple[str, bytes, str]]:
    """The recognitions of 2024 and 2025 that the units service published in those years, for one unit in
    HISTORY_EVERY: with the campaign's 2026 they make three years running, which owes a collective award."""
    from shared.contracts.envelope import new_event
    from shared.contracts.events import UnitCertified

    out = []
    for n, unit in enumerate(u for ids in units.values() for u in ids):
        if n % HISTORY_EVERY:
            continue
        for years, year in enumerate((2024, 2025), start=1):
            data = UnitCertified(unit_id=unit, year=year, rating="good", decision_no=f"{year}/QĐ-UBND",
                                 decided_at=datetime(year, 11, 20, 2, tzinfo=UTC), decided_by_level="commune",
                                 consecutive_years=years)
            env = new_event(data, source="antq/units", time=datetime(year, 11, 20, 2, tzinfo=UTC))
            out.append((f"{namespace}.{data.TYPE}", env.to_bytes(), env.id))
    return out


async def run_platform(nats_url: str, n_units: int = 2500, timeout: float = 600) -> dict[str, Any]:
    """The campaign with awards and notify downstream; None-valued figures when the campaign is not there.

    One unit in ten comes with its recognitions of the two previous years (published right after the import,
    as the units service did in those years), so the 2026 decisions owe collective awards: awards proposes them
    and notify tells the units and the approving officers."""
    mod = campaign_module()
    if mod is None or not hasattr(mod, "_campaign"):
        return {"status": "pending", "message": "bench_units_campaign has no _campaign(nats_url, n, dir) to reuse"}
    world = World(nats_url)
    awards, notify = service_process(world, "awards"), service_process(world, "notify")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    original = mod.unique_namespace
    try:
        async with processes(awards, notify):
            await asyncio.sleep(0.5)
            rest = {"awards": awards.rss(), "notify": notify.rss()}
            mod.unique_namespace = lambda: world.namespace  # the campaign publishes where they listen
            async with RssSampler({"units+driver": os.getpid(), "awards": awards.pid,
                                   "notify": notify.pid}) as rss:
                started = time.perf_counter()
                cpu_before = {"units+driver": time.process_time(), "awards": cpu_seconds(awards.pid),
                              "notify": cpu_seconds(notify.pid)}
                history: list[tuple[str, bytes, str]] = []

                async def publish_history(units: dict[str, list[str]]) -> None:
                    history.extend(history_events(world.namespace, units))
                    await publish_pipelined(js, history)

                with tempfile.TemporaryDirectory(prefix="antq-bench-units-") as tmp:
                    campaign = await mod._campaign(nats_url, n_units, Path(tmp), after_import=publish_history)
                units_done = time.perf_counter() - started
                # Caught up: each consumer's own processed_events table holds a row for every event of a type it
                # handles. The services' databases are read from outside; the NATS server is not asked about the
                # consumers while they work (see `common.raw_fetch_and_ack`: consumer info slows them on older servers).
                stream = f"{world.namespace}_UNITS"
                remaining = max(10.0, timeout - units_done)
                caught_up = {}
                for service, durable, types in (("awards", "awards-units", AWARDS_UNIT_TYPES),
                                                ("notify", "notify-units", None)):
                    expected = (await js.stream_info(stream)).state.messages if types is None else sum(
                        [await _count_subject(js, stream, f"{world.namespace}.{t}") for t in types])
                    caught_up[durable] = await processed_reaches(world.data_dir / f"{service}.db", durable, expected,
                                                                 timeout=remaining) - started
                # Then the awards proposed, as notify hears of them (awards' relay publishes them as it goes).
                awards_stream = f"{world.namespace}_AWARDS"
                seen_last, stable_since = -1, time.perf_counter()
                while time.perf_counter() - stable_since < 1.0:
                    awards_last = (await js.stream_info(awards_stream)).state.messages
                    if awards_last != seen_last:
                        seen_last, stable_since = awards_last, time.perf_counter()
                        if awards_last:
                            at = await processed_reaches(world.data_dir / "notify.db", "notify-awards", awards_last,
                                                         timeout=remaining)
                            caught_up["notify-awards"] = at - started
                    await asyncio.sleep(0.1)
                total = max([units_done, *caught_up.values()])
                cpu_used = {"units+driver": time.process_time() - cpu_before["units+driver"],
                            "awards": cpu_seconds(awards.pid) - cpu_before["awards"],
                            "notify": cpu_seconds(notify.pid) - cpu_before["notify"]}
            proposed = await _count_subject(js, f"{world.namespace}_AWARDS",
                                            f"{world.namespace}.antq.awards.AwardProposed.v1")
        db = sqlite3.connect(world.data_dir / "notify.db")
        delivered = db.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()[0]
        queued = db.execute("SELECT count(*) FROM deliveries WHERE status != 'delivered'").fetchone()[0]
        db.close()
        return {
            "units": n_units, "unit_events": campaign["events"], "history_events": len(history),
            "units_done_s": round(units_done, 2),
            "awards_caught_up_s": round(caught_up["awards-units"], 2),
            "notify_caught_up_s": round(max(caught_up["notify-units"], caught_up.get("notify-awards", 0)), 2),
            "total_s": round(total, 2),
            "units_per_s": round(n_units / total, 1),
            "awards_proposed": proposed, "notifications_delivered": delivered, "notifications_not_yet": queued,
            "rss_rest_mib": {k: round(v, 1) for k, v in rest.items()},
            "rss_peak_mib": {k: round(v, 1) for k, v in rss.peak.items()},
            # CPU seconds of each process from the start of the campaign until both services caught up.
            "cpu_s": {k: round(v, 1) for k, v in cpu_used.items()},
        }
    finally:
        mod.unique_namespace = original
        with contextlib.suppress(Exception):
            await nc.close()
        world.cleanup()


async def memory_at_rest(nats_url: str) -> dict[str, float]:
    """RSS of each of the four services and the console started with empty databases, once ready and settled: in
    the production shape, the databases migrated first (`antq migrate`, the migration job), the services started
    without migrating (`ANTQ_MIGRATE_ON_START=false`, as compose and Kubernetes run them)."""
    world = World(nats_url)
    names = ("units", "tips", "awards", "notify", "console")
    for name in names:
        subprocess.run([sys.executable, "-m", "services.cli", "migrate", name], env=world.env(name, 0),
                       check=True, capture_output=True)
    procs = [service_process(world, s, {"ANTQ_MIGRATE_ON_START": "false"}) for s in names]
    try:
        async with processes(*procs):
            await asyncio.sleep(1.0)
            return {p.name: round(p.rss(), 1) for p in procs}
    finally:
        world.cleanup()
