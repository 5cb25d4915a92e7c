"""A provincial ANTT campaign: N units imported, registered, self-assessed, submitted, appraised and decided.

The units service runs in-process (its FastAPI app driven through httpx's ASGI transport, a temporary SQLite
database, a real NATS); every step goes through the HTTP API (the import and the batch endpoints, one commune of
1,000 units per request). The clock stops when the last event of the campaign has been published (the outbox
is empty). The baseline publishes the same number of events of the same size with plain nats-py to the same
stream, pipelined like the relay (windows of `relay_batch_size`, each PubAck awaited), in the same run.

    python -m tests.bench.bench_units_campaign [N]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from sqlalchemy import exists, func, select

from services.units.app import build
from shared import places
from shared.bus.streams import provision
from shared.contracts.subjects import STREAMS
from shared.db import outbox
from shared.settings import Settings
from shared.testing import eventually, unique_namespace
from tests.bench.common import bench_nats

HCMC = places.communes_of("79")  # real communes: every service checks areas against the national list

PER_COMMUNE = 1000
YEAR = 2026
# Inside assessment year 2026 and before the registration deadline, whatever day the bench runs.
CLOCK = datetime(2026, 2, 10, 3, 0, tzinfo=UTC)
CRITERIA = ["A6.1", "A6.2", "A6.3", "A6.4", "79.1", "79.2", "79.3"]


def _records(n_units: int) -> tuple[bytes, dict[str, list[int]]]:
    lines, communes = [], {}
    for i in range(n_units):
        commune = HCMC[(i // PER_COMMUNE) % len(HCMC)].code
        communes.setdefault(commune, []).append(i)
        lines.append(json.dumps({"name": f"Công ty TNHH Sản xuất {i:05d}", "kind": "enterprise", "area_code": commune,
                                 "tax_code": f"03{i:08d}", "size": "medium", "models": ["Tổ công nhân tự quản"],
                                 "security_force_full_time": i % 7}, ensure_ascii=False))
    return "\n".join(lines).encode(), communes


async def _outbox_pending(service: Any) -> bool:
    """Whether any outbox row is still unpublished: an index probe (`state, seq`), not a count of 100,000+ rows
    every 50 ms, which would compete with the relay it is waiting for."""
    async with service.db.read() as session:
        return bool((await session.execute(select(exists().where(outbox.c.state == "pending")))).scalar_one())


async def _campaign(nats_url: str, n_units: int, data_dir: Path,
                    after_import: Callable[[dict[str, list[str]]], Awaitable[None]] | None = None) -> dict[str, Any]:
    """The campaign; `after_import(units by commune)` runs right after the import, inside the timed run."""
    namespace = unique_namespace()
    settings = Settings(data_dir=data_dir, nats_url=nats_url, namespace=namespace, sqlite_synchronous="NORMAL",
                        log_json=False, relay_poll_interval=0.05, units_metrics_refresh_seconds=60,
                        units_batch_max_items=PER_COMMUNE, units_import_chunk_rows=1000)
    service = build(settings)
    service.clock = lambda: CLOCK
    body, communes = _records(n_units)
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds of this process (service, relay and driver) per phase
    await provision(settings)
    await service.start()
    try:
        await eventually(lambda: _ready(service), timeout=30, what="units ready")
        admin = {"Authorization": "Bearer " + service.tokens.issue(role="admin", sub="bench", ttl=24 * 3600)}
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://units", headers=admin,
                                     timeout=600) as http:
            started, cpu_started = time.perf_counter(), time.process_time()
            t, tc = time.perf_counter(), time.process_time()
            r = await http.post("/imports/units", content=body, params={"rows": "rejected"},
                                headers={"content-type": "application/x-ndjson"})
            r.raise_for_status()
            report = r.json()
            assert report["created"] == n_units, report
            timings["import_s"], cpu["import"] = time.perf_counter() - t, time.process_time() - tc
            units = await _unit_ids(http)
            if after_import is not None:
                await after_import(units)
            for phase, path, make in (
                ("register_s", "registrations", lambda ids: {"unit_ids": ids}),
                ("self_assess_s", "self-assessments", lambda ids: {"items": [
                    {"unit_id": u, "results": {c: {"result": "met"} for c in CRITERIA}} for u in ids]}),
                ("submit_s", "submissions", lambda ids: {"unit_ids": ids}),
                ("appraise_s", "appraisals", lambda ids: {"items": [{"unit_id": u, "recommended": True}
                                                                     for u in ids]}),
                ("decide_s", "decisions", lambda ids: {"items": [
                    {"unit_id": u, "recognized": True, "decision_no": "79/QĐ-UBND", "rating": "good"}
                    for u in ids]}),
            ):
                t, tc = time.perf_counter(), time.process_time()
                for commune, ids in units.items():
                    r = await http.post(f"/batches/{path}", json={"year": YEAR, "area_code": commune, **make(ids)})
                    r.raise_for_status()
                    result = r.json()
                    assert result["failed"] == 0, (path, [i for i in result["items"] if not i["ok"]][:3])
                timings[phase], cpu[phase.removesuffix("_s")] = time.perf_counter() - t, time.process_time() - tc
            t, tc = time.perf_counter(), time.process_time()
            while await _outbox_pending(service):
                await asyncio.sleep(0.05)
            timings["drain_after_last_request_s"] = time.perf_counter() - t
            cpu["drain_after_last_request"] = time.process_time() - tc
            total, cpu_total = time.perf_counter() - started, time.process_time() - cpu_started
        async with service.db.read() as session:
            events = int((await session.execute(select(func.count()).select_from(outbox))).scalar_one())
            sizes = (await session.execute(select(func.avg(func.length(outbox.c.payload))))).scalar_one()
    finally:
        await service.stop()
    return {"namespace": namespace, "events": events, "avg_event_bytes": int(sizes or 0), "total_s": total,
            "communes": len(communes), **timings, "cpu": cpu, "cpu_total": cpu_total}


async def _ready(service: Any) -> bool:
    ok, _ = await service.readiness()
    return ok


async def _unit_ids(http: httpx.AsyncClient) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500, "area_code": "79"}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get("/units", params=params)).raise_for_status().json()
        for unit in page["items"]:
            out.setdefault(unit["area_code"], []).append(unit["unit_id"])
        cursor = page["next_cursor"]
        if not cursor:
            return out


async def _baseline(nats_url: str, namespace: str, events: int, size: int, window: int) -> float:
    """Seconds for nats-py to publish `events` messages of `size` bytes to the UNITS stream, acks awaited."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = f"{namespace}.antq.units.BenchBaseline.v1"
        payload = b"x" * size
        started = time.perf_counter()
        for start in range(0, events, window):
            await asyncio.gather(*(js.publish(subject, payload, headers={"Nats-Msg-Id": str(uuid.uuid4())},
                                              timeout=10)
                                   for _ in range(min(window, events - start))))
        return time.perf_counter() - started
    finally:
        await nc.close()


async def _drop_streams(nats_url: str, namespace: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for spec in STREAMS:
            with contextlib.suppress(Exception):
                await js.delete_stream(f"{namespace}_{spec.name}")
    finally:
        await nc.close()


async def run(n_units: int = 25000) -> dict[str, Any]:
    """Run the campaign and its baseline; returns the timings, units/s, events/s and the ratio to the baseline."""
    with bench_nats() as (nats_url, nats_source), tempfile.TemporaryDirectory(prefix="antq-bench-units-") as tmp:
        campaign = await _campaign(nats_url, n_units, Path(tmp))
        window = Settings().relay_batch_size
        baseline_s = await _baseline(nats_url, campaign["namespace"], campaign["events"],
                                     campaign["avg_event_bytes"], window)
        await _drop_streams(nats_url, campaign["namespace"])
    events_per_s = campaign["events"] / campaign["total_s"]
    baseline_per_s = campaign["events"] / baseline_s
    return {
        "benchmark": "units provincial campaign", "nats": nats_source, "units": n_units,
        "events": campaign["events"], "communes": campaign["communes"],
        "phases_s": {k: round(v, 3) for k, v in campaign.items() if k.endswith("_s") and k != "total_s"},
        "total_s": round(campaign["total_s"], 3),
        # CPU of the whole process: on a shared machine, the wall time above also measures the neighbours.
        "process_cpu_s": round(campaign["cpu_total"], 3),
        "phases_process_cpu_s": {k: round(v, 3) for k, v in campaign["cpu"].items()},
        "units_per_s": round(n_units / campaign["total_s"], 1),
        "events_per_s": round(events_per_s, 1),
        "baseline_nats_py_events_per_s": round(baseline_per_s, 1),
        "baseline_s": round(baseline_s, 3),
        "ratio_to_baseline": round(events_per_s / baseline_per_s, 4),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 25000)), indent=2))
