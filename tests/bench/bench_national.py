"""A country on PostgreSQL: the registry of 34 provinces and 3,321 communes at national size, measured.

    python -m tests.bench --only national            # ANTQ_NATIONAL_SCALE (default 1: 1M units, 1M tips, 10M
                                                     # notifications); 0.1 is a tenth of each
    ANTQ_NATIONAL_SCALE=0.1 python -m tests.bench --only national

What it does, on the PostgreSQL server of `ANTQ_TEST_POSTGRES_URL` (one fresh database per service, named
`antq_national_<pid>_<service>`, dropped at the end):

1. Import rate: the units service (`antq serve units`, its own process) imports a sample of units spread over
   every commune through the real bulk import (`POST /imports/units`, NDJSON, one commune per request); the
   rate is measured there and the time the full registry would take is extrapolated from it (said as such).
2. The data set at size: the sample's rows (written by the service itself) are copied in SQL into the units
   of every commune (`INSERT ... SELECT` over `generate_series`, each copy with its own id, name, key and place,
   its JSON rewritten to match), with this year's cycles; template tips recorded through the tips handlers
   are copied the same way over the country; notifications are written into notify's `deliveries` as the
   inbox stores them (officers' area desks). The services' own migrations made every table and index.
3. Reads over real HTTP against the real services: `/stats` for the nation and for one province (as served,
   from the shared snapshot, and as computed for each request by a units process with
   `ANTQ_UNITS_STATS_MAX_AGE=0`), registry search, the officer's tip queue, the inbox; p50/p99 of sequential
   requests, each with its goal, and the `EXPLAIN (ANALYZE, BUFFERS)` plan of the query behind the slowest.
4. Replicas: 1, 2 and 3 processes each of tips and notify against the same PostgreSQL and NATS, tips posted
   round-robin to the tips replicas; tips/s accepted and events/s the notify replicas handled, per count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from shared import places
from shared.testing import create_database, drop_database
from tests.bench.common import (
    HttpConnection,
    Process,
    World,
    cpu_seconds,
    encode_request,
    ms,
    percentile,
    processes,
    service_process,
)

YEAR = 2026
FULL_UNITS, FULL_TIPS, FULL_NOTIFICATIONS = 1_000_000, 1_000_000, 10_000_000
GOALS_MS = {"stats_nation": 1000, "stats_province": 200, "stats_nation_live": 1000, "stats_province_live": 200,
            "registry_search": 100, "registry_search_province": 100, "tip_queue": 100, "inbox": 50}
# /stats as served (the nation's and a province's from the replicas' shared snapshot, at most
# ANTQ_UNITS_STATS_MAX_AGE old) and as computed for each request (a units process with max age 0): what the
# snapshot saves, and what a request that finds it expired (or the refresher) pays.
STATS_MAX_AGE = 60
READ_LABELS = {"stats_nation": "GET /stats, the nation (served)",
               "stats_province": "GET /stats, one province (served)",
               "stats_nation_live": "GET /stats, the nation (computed live)",
               "stats_province_live": "GET /stats, one province (computed live)",
               "registry_search": "GET /units?q=, the nation (admin)",
               "registry_search_province": "GET /units?q=, a province's officer",
               "tip_queue": "GET /tips, a province's officer", "inbox": "GET /inbox, a province's officer"}
PROVINCE = "79"  # Thành phố Hồ Chí Minh: the province whose officer reads
CATEGORIES = ("theft", "fraud", "drugs", "gambling", "other")
STATES = ("registered", "in_progress", "self_assessed", "submitted", "appraised", "recognised", "recognised",
          "not_recognised")


@dataclass(frozen=True)
class NationalSizes:
    units: int
    tips: int
    notifications: int
    import_sample: int
    requests: int
    replica_seconds: float
    concurrency: int

    @classmethod
    def at(cls, scale: float, *, requests: int = 200, replica_seconds: float = 15, concurrency: int = 16,
           import_sample: int = 20_000) -> NationalSizes:
        units = max(200, int(FULL_UNITS * scale))
        return cls(units=units, tips=max(200, int(FULL_TIPS * scale)),
                   notifications=max(500, int(FULL_NOTIFICATIONS * scale)),
                   import_sample=min(units, import_sample), requests=requests, replica_seconds=replica_seconds,
                   concurrency=concurrency)


def scale_from_env(default: float = 1.0) -> float:
    raw = os.environ.get("ANTQ_NATIONAL_SCALE")
    return float(raw) if raw else default


# --- databases -----------------------------------------------------------------------------------------------------
def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg(url: str) -> Any:
    import asyncpg  # type: ignore[import-untyped]

    return await asyncpg.connect(_dsn(url))


async def _scalar(url: str, query: str, *args: Any) -> Any:
    conn = await _pg(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _places_table(conn: Any) -> int:
    """Every commune of the national list as a temporary table `nat_places(i, province, commune)`."""
    communes = [(i, c.province_code, c.code.split(".", 1)[1])
                for i, c in enumerate(c for p in places.provinces() for c in places.communes_of(p.code))]
    await conn.execute("CREATE TEMP TABLE nat_places (i int PRIMARY KEY, province text, commune text)")
    await conn.copy_records_to_table("nat_places", records=communes)
    return len(communes)


# --- 1. the import rate, through the real bulk import ----------------------------------------------------------------
def _unit_record(i: int, commune: places.Place) -> dict[str, Any]:
    kinds = ("enterprise", "enterprise", "agency", "school")
    kind = kinds[i % len(kinds)]
    names = {"enterprise": "Công ty TNHH Sản xuất", "agency": "Ủy ban nhân dân", "school": "Trường THCS"}
    record: dict[str, Any] = {"name": f"{names[kind]} {commune.name} số {i:07d}", "kind": kind,
                              "area_code": commune.code, "models": ["Tổ công nhân tự quản"] if i % 3 == 0 else []}
    if kind == "enterprise":
        record.update({"tax_code": f"03{i:08d}", "size": ("small", "medium", "large")[i % 3],
                       "security_force_full_time": i % 7})
    elif kind == "school":
        record.update({"school_code": f"TH{i:08d}", "school_level": "lower_secondary"})
    else:
        record["external_key"] = f"UBND-{i:08d}"
    return record


async def import_sample(proc: Process, token: str, n: int) -> dict[str, Any]:
    """`n` units over every commune through `POST /imports/units` (one request per commune's share)."""
    communes = [c for p in places.provinces() for c in places.communes_of(p.code)]
    per_commune: dict[str, list[str]] = {}
    for i in range(n):
        commune = communes[i % len(communes)]
        per_commune.setdefault(commune.code, []).append(json.dumps(_unit_record(i, commune), ensure_ascii=False))
    bodies = ["\n".join(lines).encode() for lines in per_commune.values()]
    # Requests of about 1,000 units: the communes' shares grouped.
    grouped: list[bytes] = []
    current: list[bytes] = []
    for body in bodies:
        current.append(body)
        if sum(b.count(b"\n") + 1 for b in current) >= 1000:
            grouped.append(b"\n".join(current))
            current = []
    if current:
        grouped.append(b"\n".join(current))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    imported = rejected = 0
    first_rejection: Any = None
    cpu0 = cpu_seconds(proc.pid)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proc.port}", timeout=300) as client:
        for body in grouped:
            r = await client.post("/imports/units", params={"rows": "rejected"}, content=body, headers=headers)
            r.raise_for_status()
            report = r.json()
            imported += int(report["created"]) + int(report["updated"])
            rejected += int(report["rejected"])
            first_rejection = first_rejection or (report["rows"] or [None])[0]
    took = time.perf_counter() - started
    rate = imported / took if took else 0.0
    return {"units": imported, "rejected": rejected, "first_rejection": first_rejection,
            "requests": len(grouped), "seconds": round(took, 2), "units_per_s": round(rate, 1),
            "cpu_ms_per_unit": round((cpu_seconds(proc.pid) - cpu0) / max(imported, 1) * 1000, 3),
            "extrapolated_full_s": round(FULL_UNITS / rate, 0) if rate else None}


# --- 2. the data set at size -----------------------------------------------------------------------------------------
async def build_units(url: str, total: int) -> dict[str, Any]:
    """Copy the imported units (the templates) until the registry holds `total`, over every commune; then this
    year's cycle of every in-scope unit, and the reasons of those not recognised."""
    conn = await _pg(url)
    started = time.perf_counter()
    try:
        n_places = await _places_table(conn)
        await conn.execute("CREATE TEMP TABLE nat_tpl AS SELECT (row_number() OVER (ORDER BY unit_id)) - 1 AS k, * "
                           "FROM units")
        templates = await conn.fetchval("SELECT count(*) FROM nat_tpl")
        missing = total - templates
        if missing > 0:
            await conn.execute(f"""
                INSERT INTO units (unit_id, name, kind, province_code, commune_code, area_code, external_key,
                                   in_scope, out_of_scope_rule, status, managing_level, search, data, created_at,
                                   updated_at)
                SELECT u.id, u.name, t.kind, p.province, p.commune, p.province || '.' || p.commune,
                       'nat-' || g, t.in_scope, t.out_of_scope_rule,
                       CASE WHEN g % 50 = 0 THEN 'dissolved' ELSE t.status END, t.managing_level,
                       t.search || ' ' || g, jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(
                           t.data::jsonb, '{{unit_id}}', to_jsonb(u.id)), '{{name}}', to_jsonb(u.name)),
                           '{{province_code}}', to_jsonb(p.province)), '{{commune_code}}', to_jsonb(p.commune)),
                           '{{external_key}}', to_jsonb('nat-' || g))::json,
                       t.created_at, t.updated_at
                FROM generate_series(1, {missing}) AS g
                JOIN nat_tpl t ON t.k = g % {templates}
                JOIN nat_places p ON p.i = g % {n_places}
                CROSS JOIN LATERAL (SELECT md5('unit' || g) AS id,
                                           regexp_replace(t.name, ' số [0-9]+$', '') || ' số ' || lpad(g::text, 7, '0')
                                           AS name) u""")
            await conn.execute("INSERT INTO unit_models (unit_id, model) SELECT unit_id, 'Tổ công nhân tự quản' "
                               "FROM units WHERE external_key LIKE 'nat-%' AND hashtext(unit_id) % 3 = 0 "
                               "ON CONFLICT DO NOTHING")
        states = "ARRAY[" + ",".join(f"'{s}'" for s in STATES) + "]"
        await conn.execute(f"""
            INSERT INTO cycles (unit_id, year, state, kind, framework_code, late, rating, criteria_met,
                                criteria_total, registered_at, updated_at, data, province_code, commune_code)
            SELECT unit_id, {YEAR}, ({states})[1 + abs(hashtext(unit_id)) % {len(STATES)}], kind,
                   'national/{YEAR}', abs(hashtext(unit_id)) % 20 = 0,
                   CASE WHEN abs(hashtext(unit_id)) % {len(STATES)} IN (5, 6) THEN 'good' END, 5, 7,
                   now(), now(), '{{}}'::json, province_code, commune_code
            FROM units WHERE in_scope AND status = 'active'
            ON CONFLICT DO NOTHING""")
        await conn.execute(f"""
            INSERT INTO cycle_reasons (unit_id, year, reason, kind, value)
            SELECT unit_id, year, 'criterion_not_met:A6.' || (1 + abs(hashtext(unit_id)) % 4), 'criterion_not_met',
                   'A6.' || (1 + abs(hashtext(unit_id)) % 4)
            FROM cycles WHERE year = {YEAR} AND state = 'not_recognised' ON CONFLICT DO NOTHING""")
        await conn.execute("VACUUM ANALYZE")  # as autovacuum would after a load: index-only scans need it
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in ("units", "cycles", "unit_models")}
    finally:
        await conn.close()
    return {**counts, "templates": templates, "seconds": round(time.perf_counter() - started, 1)}


async def tip_templates(world: World, url: str, n: int) -> None:
    """`n` tips recorded through the tips handlers (receipts, outbox and all) over the country's communes."""
    from services.tips.app import build as build_tips
    from services.tips.handlers import SubmitTip, prepare_tip, record_tips
    from shared.db import utcnow

    settings = world.settings(tips_database_url=url, tips_argon2_profile="fast")
    service = build_tips(settings)
    ctx = service.app.state.ctx
    communes = [c for p in places.provinces() for c in places.communes_of(p.code)]
    now = utcnow()
    try:
        tips = [SubmitTip.model_validate({
            "category": CATEGORIES[i % len(CATEGORIES)], "area_code": communes[(i * 97) % len(communes)].code,
            "anonymous": True, "description": f"Tin báo số {i}: nghi vấn {CATEGORIES[i % len(CATEGORIES)]} tại "
                                              f"khu phố {i % 37}, xảy ra khoảng {i % 24} giờ"}) for i in range(n)]
        batch = await asyncio.gather(*(prepare_tip(t, ctx=ctx, channel="web") for t in tips))
        async with service.db.unit_of_work() as uow:
            await record_tips(batch, uow, ctx=ctx, now=now)
    finally:
        await service.db.dispose()


async def build_tips(url: str, total: int) -> dict[str, Any]:
    """Copy the template tips until the tips table holds `total`, over every commune and the past year, in
    every state (received, triaged, verifying, decided, closed)."""
    conn = await _pg(url)
    started = time.perf_counter()
    try:
        n_places = await _places_table(conn)
        await conn.execute("CREATE TEMP TABLE nat_tpl AS SELECT (row_number() OVER (ORDER BY tip_id)) - 1 AS k, * "
                           "FROM tips")
        templates = await conn.fetchval("SELECT count(*) FROM nat_tpl")
        columns = [r["column_name"] for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'tips' AND table_schema = "
            "current_schema() ORDER BY ordinal_position")]
        override = {
            "tip_id": "md5('tip' || g)::uuid::text",
            "receipt_lookup": "substr(md5('lookup' || g), 1, 16)",
            "area_code": "p.province || '.' || p.commune",
            "scope_area": "p.province || '.' || p.commune",
            "status": "(ARRAY['received','triaged','verifying','decided','closed','closed'])[1 + g % 6]",
            "received_at": "now() - make_interval(secs => (g * 31.7)::int % 31536000)",
            "updated_at": "now() - make_interval(secs => (g * 31.7)::int % 31536000)",
            "priority": "CASE WHEN g % 10 = 0 THEN 'urgent' ELSE 'normal' END",
            "category": f"(ARRAY[{','.join(repr(c) for c in CATEGORIES)}])[1 + g % {len(CATEGORIES)}]",
            "deadline_due_at": "CASE WHEN g % 6 < 3 THEN now() + make_interval(days => g % 40 - 10) END",
            "next_wakeup_at": "NULL",
        }
        select = ", ".join(override.get(c, f"t.{c}") for c in columns)
        missing = total - templates
        if missing > 0:
            await conn.execute(f"""
                INSERT INTO tips ({", ".join(columns)})
                SELECT {select}
                FROM generate_series(1, {missing}) AS g
                JOIN nat_tpl t ON t.k = g % {templates}
                JOIN nat_places p ON p.i = (g * 7) % {n_places}""")
        await conn.execute("VACUUM ANALYZE")
        count = await conn.fetchval("SELECT count(*) FROM tips")
    finally:
        await conn.close()
    return {"tips": count, "templates": templates, "seconds": round(time.perf_counter() - started, 1)}


async def build_notifications(url: str, total: int) -> dict[str, Any]:
    """`total` inbox notifications as notify stores them: one per tip event, to the desk of the tip's commune
    (read by the commune's and the province's officers), over the past year, a third of them read."""
    conn = await _pg(url)
    started = time.perf_counter()
    try:
        n_places = await _places_table(conn)
        await conn.execute(f"""
            INSERT INTO deliveries (notification_id, cause_event_id, event_type, event_time, recipient_id,
                                    recipient_kind, channel, target, subscription_id, reason, language, mode,
                                    critical, area_code, unit_id, status, attempts, title, body, created_at,
                                    delivered_at)
            SELECT md5('n' || g)::uuid::text, md5('e' || g)::uuid::text, 'antq.tips.received',
                   now() - make_interval(secs => g % 31536000), 'desk:' || p.province || '.' || p.commune,
                   'officer', 'inbox', NULL, NULL, 'area desk', 'vi', 'immediate', g % 10 = 0,
                   p.province || '.' || p.commune, NULL, 'delivered', 1,
                   'Tin báo mới tại ' || p.commune, 'Một tin báo mới cần phân loại.',
                   now() - make_interval(secs => g % 31536000), now() - make_interval(secs => g % 31536000)
            FROM generate_series(1, {total}) AS g
            JOIN nat_places p ON p.i = (g * 13) % {n_places}""")
        await conn.execute("VACUUM ANALYZE")
        count = await conn.fetchval("SELECT count(*) FROM deliveries")
    finally:
        await conn.close()
    return {"notifications": count, "seconds": round(time.perf_counter() - started, 1)}


# --- 3. reads over HTTP -----------------------------------------------------------------------------------------------
async def sequential(port: int, requests: Sequence[bytes]) -> dict[str, Any]:
    """Each request in turn on one keep-alive connection (after two unmeasured ones): p50/p99, statuses."""
    conn = HttpConnection("127.0.0.1", port)
    latencies: list[float] = []
    errors = 0
    first_error = None
    try:
        for raw in requests[:2]:
            await conn.send(raw)
        for raw in requests:
            t = time.perf_counter()
            status, body = await conn.send(raw)
            latencies.append(time.perf_counter() - t)
            if status != 200:
                errors += 1
                first_error = first_error or f"{status} {body[:300].decode(errors='replace')}"
    finally:
        conn.close()
    return {"requests": len(latencies), "errors": errors, "first_error": first_error,
            "p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99)),
            "max_ms": ms(max(latencies))}


def _get(path: str, token: str) -> bytes:
    return encode_request("GET", path, headers={"Authorization": f"Bearer {token}"})


async def explain(url: str, query: str) -> list[str]:
    conn = await _pg(url)
    try:
        return [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {query}")]
    finally:
        await conn.close()


def _plan_head(plan: list[str], n: int = 14) -> list[str]:
    return plan[:n] + [line for line in plan[n:] if "Execution Time" in line or "Planning Time" in line]


# The SQL each endpoint runs (as the stores build it), for EXPLAIN; `{p}` is the province.
EXPLAINED = {
    "stats_nation": ("units", "SELECT units.kind, units.status, units.in_scope, units.out_of_scope_rule, count(*) "
                              "FROM units GROUP BY units.kind, units.status, units.in_scope, "
                              "units.out_of_scope_rule"),
    "stats_province": ("units", "SELECT cycles.state, cycles.late, cycles.rating, count(*) FROM cycles WHERE "
                                f"cycles.year = {YEAR} AND cycles.province_code = '{PROVINCE}' GROUP BY "
                                "cycles.state, cycles.late, cycles.rating"),
    "stats_nation_live": ("units", "SELECT units.kind, units.status, units.in_scope, units.out_of_scope_rule, "
                                   "count(*) FROM units GROUP BY units.kind, units.status, units.in_scope, "
                                   "units.out_of_scope_rule"),
    "stats_province_live": ("units", "SELECT cycles.state, cycles.late, cycles.rating, count(*) FROM cycles WHERE "
                                     f"cycles.year = {YEAR} AND cycles.province_code = '{PROVINCE}' GROUP BY "
                                     "cycles.state, cycles.late, cycles.rating"),
    "registry_search": ("units", "SELECT units.data FROM units JOIN (SELECT units.unit_id, units.name FROM units "
                                 "WHERE units.search LIKE '%san%' AND units.search LIKE '%xuat%' AND units.search "
                                 "LIKE '%0123%' ORDER BY units.name, units.unit_id LIMIT 51) AS page ON "
                                 "units.unit_id = page.unit_id ORDER BY page.name, page.unit_id"),
    "registry_search_province": ("units", "SELECT units.data FROM units JOIN (SELECT units.unit_id, units.name FROM "
                                          f"units WHERE units.province_code = '{PROVINCE}' AND units.search LIKE "
                                          "'%truong%' ORDER BY units.name, units.unit_id LIMIT 51) AS page ON "
                                          "units.unit_id = page.unit_id ORDER BY page.name, page.unit_id"),
    "tip_queue": ("tips", f"SELECT * FROM tips WHERE (tips.scope_area = '{PROVINCE}' OR tips.scope_area LIKE "
                          f"'{PROVINCE}.%') ORDER BY tips.received_at DESC, tips.tip_id DESC LIMIT 51"),
    "inbox": ("notify", "SELECT deliveries.notification_id, deliveries.title, (SELECT inbox_reads.read_at FROM "
                        "inbox_reads WHERE inbox_reads.notification_id = deliveries.notification_id AND "
                        "inbox_reads.reader = 'officer:bench') AS read_at FROM deliveries WHERE deliveries.channel = "
                        "'inbox' AND (deliveries.recipient_id = 'officer:bench' OR deliveries.recipient_id LIKE "
                        f"'desk:%' AND (deliveries.area_code = '{PROVINCE}' OR deliveries.area_code LIKE "
                        f"'{PROVINCE}.%' OR deliveries.recipient_id = 'desk:intake')) AND NOT (EXISTS (SELECT "
                        "inbox_reads.notification_id FROM inbox_reads WHERE inbox_reads.notification_id = "
                        "deliveries.notification_id AND inbox_reads.reader = 'officer:bench')) ORDER BY "
                        "deliveries.created_at DESC, deliveries.notification_id DESC LIMIT 51"),
}


async def measure_reads(world: World, urls: dict[str, str], n: int) -> dict[str, Any]:
    admin = world.token(role="admin", sub="bench-admin")
    officer = world.token(role="officer", area=PROVINCE, sub="bench")
    words = ("san xuat", "truong", "uy ban", "cong ty", "thcs")
    procs = [service_process(world, s, {f"ANTQ_{s.upper()}_DATABASE_URL": urls[s],
                                        "ANTQ_UNITS_STATS_MAX_AGE": str(STATS_MAX_AGE),
                                        "ANTQ_TIPS_ARGON2_PROFILE": "fast"}) for s in ("units", "tips", "notify")]
    live_p = service_process(world, "units", {"ANTQ_UNITS_DATABASE_URL": urls["units"],
                                              "ANTQ_UNITS_STATS_MAX_AGE": "0"})
    live_p.name, live_p.log_path = "units-live", live_p.log_path.with_name("units-live.log")
    async with processes(*procs, live_p, timeout=120):
        units_p, tips_p, notify_p = procs
        nation, province = _get(f"/stats?year={YEAR}", admin), _get(f"/stats?year={YEAR}&area_code={PROVINCE}", admin)
        reads = {
            "stats_nation": (units_p, [nation] * max(10, n // 10)),
            "stats_province": (units_p, [province] * n),
            "stats_nation_live": (live_p, [nation] * max(10, n // 10)),
            "stats_province_live": (live_p, [province] * max(10, n // 4)),
            "registry_search": (units_p, [_get(f"/units?q={words[i % len(words)].replace(' ', '+')}+{i % 1000:04d}",
                                               admin) for i in range(n)]),
            "registry_search_province": (units_p, [_get(f"/units?q={words[i % len(words)].replace(' ', '+')}",
                                                        officer) for i in range(n)]),
            "tip_queue": (tips_p, [_get("/tips" + ("" if i % 2 else "?status=open"), officer) for i in range(n)]),
            "inbox": (notify_p, [_get("/inbox" + ("" if i % 2 else "?unread=true"), officer) for i in range(n)]),
        }
        out: dict[str, Any] = {}
        for name, (proc, requests) in reads.items():
            out[name] = await sequential(proc.port, requests) | {"goal_p99_ms": GOALS_MS[name]}
            out[name]["met"] = out[name]["p99_ms"] < GOALS_MS[name] and out[name]["errors"] == 0
            out[name]["load_average"] = round(os.getloadavg()[0], 1)
    return out


# --- 4. replicas ------------------------------------------------------------------------------------------------------
def _tip_body(i: int) -> bytes:
    communes = places.communes_of(PROVINCE)
    return encode_request("POST", "/tips", body={
        "category": CATEGORIES[i % len(CATEGORIES)], "area_code": communes[i % len(communes)].code,
        "anonymous": True, "description": f"Tin báo tải {i} {uuid.uuid4().hex[:8]}: nghi vấn tại khu phố {i % 37}"})


async def _handled(url: str) -> int:
    """Events notify's consumers have taken in (its processed_events table)."""
    return int(await _scalar(url, "SELECT count(*) FROM processed_events"))


async def _quiet(url: str, timeout: float = 60) -> int:
    """Notify's handled count once it stops moving (the events of the build, relayed at start, taken in)."""
    last, still_since = await _handled(url), time.perf_counter()
    deadline = time.perf_counter() + timeout
    while time.perf_counter() - still_since < 1.5 and time.perf_counter() < deadline:
        await asyncio.sleep(0.25)
        now = await _handled(url)
        if now != last:
            last, still_since = now, time.perf_counter()
    return last


async def replicas_run(world: World, urls: dict[str, str], count: int, *, seconds: float,
                       concurrency: int) -> dict[str, Any]:
    env = {"ANTQ_TIPS_DATABASE_URL": urls["tips"], "ANTQ_NOTIFY_DATABASE_URL": urls["notify"],
           "ANTQ_TIPS_ARGON2_PROFILE": "fast"}
    tips_procs = [service_process(world, "tips", env) for _ in range(count)]
    notify_procs = [service_process(world, "notify", env) for _ in range(count)]
    for i, p in enumerate(tips_procs + notify_procs):
        p.name = f"{p.name}-{i % count + 1}"
    async with processes(*tips_procs, *notify_procs, timeout=120):
        before = await _quiet(urls["notify"])
        cpu0 = {p.name: cpu_seconds(p.pid) for p in tips_procs + notify_procs}
        accepted = 0
        errors = 0
        latencies: list[float] = []
        stop = time.perf_counter() + seconds
        counter = 0
        marks: list[tuple[float, int]] = []

        async def worker(k: int) -> None:
            nonlocal accepted, errors, counter
            conn = HttpConnection("127.0.0.1", tips_procs[k % count].port)
            try:
                while time.perf_counter() < stop:
                    counter += 1
                    t = time.perf_counter()
                    try:
                        status, _ = await conn.send(_tip_body(counter))
                    except (OSError, asyncio.IncompleteReadError, ValueError):
                        conn.close()
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t)
                    if status == 202:
                        accepted += 1
                    else:
                        errors += 1
            finally:
                conn.close()

        async def watch() -> None:
            while True:
                marks.append((time.perf_counter(), await _handled(urls["notify"]) - before))
                await asyncio.sleep(0.25)

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        posted_s = time.perf_counter() - started
        # Notify catches up: each accepted tip is one TipReceived it handles.
        deadline = time.perf_counter() + max(60.0, seconds * 4)
        while time.perf_counter() < deadline and (not marks or marks[-1][1] < accepted):
            await asyncio.sleep(0.25)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        handled = marks[-1][1] if marks else 0
        first = next((t for t, c in marks if c > 0), started)
        last = next((t for t, c in marks if c >= handled), time.perf_counter())
        cpu = {p.name: round(cpu_seconds(p.pid) - cpu0[p.name], 1) for p in tips_procs + notify_procs}
    return {"replicas": count, "tips_accepted": accepted, "errors": errors, "tips_per_s": round(accepted / posted_s, 1),
            "post_p50_ms": ms(percentile(latencies, 50)), "post_p99_ms": ms(percentile(latencies, 99)),
            "events_handled": handled, "events_per_s": round(handled / max(last - first, 0.25), 1),
            "notify_caught_up": handled >= accepted, "cpu_s": cpu,
            "tips_cpu_ms_per_tip": round(sum(v for k, v in cpu.items() if k.startswith("tips")) / max(accepted, 1)
                                         * 1000, 1),
            "notify_cpu_ms_per_event": round(sum(v for k, v in cpu.items() if k.startswith("notify"))
                                             / max(handled, 1) * 1000, 1),
            "load_average": round(os.getloadavg()[0], 1)}


# --- the whole step ---------------------------------------------------------------------------------------------------
async def run(nats_url: str, *, scale: float | None = None, sizes: NationalSizes | None = None,
              admin_url: str | None = None, replica_counts: Sequence[int] = (1, 2, 3),
              keep: bool = False) -> dict[str, Any]:
    scale = scale_from_env() if scale is None else scale
    sizes = sizes or NationalSizes.at(scale)
    admin_url = admin_url or os.environ.get("ANTQ_TEST_POSTGRES_URL")
    if not admin_url:
        return {"status": "pending", "message": "set ANTQ_TEST_POSTGRES_URL (a PostgreSQL server) to run national"}
    world = World(nats_url)
    names = {s: f"antq_national_{os.getpid()}_{s}" for s in ("units", "tips", "notify")}
    urls: dict[str, str] = {}
    result: dict[str, Any] = {"scale": scale, "sizes": sizes.__dict__, "province": PROVINCE}
    from shared.migrations import migrate

    try:
        for service, name in names.items():
            await drop_database(admin_url, name)
            urls[service] = await create_database(admin_url, name)
            await migrate(urls[service], service)
        token = world.token(role="admin", sub="bench-admin")
        units_p = service_process(world, "units", {"ANTQ_UNITS_DATABASE_URL": urls["units"]})
        async with processes(units_p, timeout=120):
            result["import"] = await import_sample(units_p, token, sizes.import_sample)
        build: dict[str, Any] = {}
        build["units"] = await build_units(urls["units"], sizes.units)
        await tip_templates(world, urls["tips"], min(500, sizes.tips))
        build["tips"] = await build_tips(urls["tips"], sizes.tips)
        build["notifications"] = await build_notifications(urls["notify"], sizes.notifications)
        result["build"] = build
        result["reads"] = await measure_reads(world, urls, sizes.requests)
        slowest = sorted(result["reads"], key=lambda k: result["reads"][k]["p99_ms"] / GOALS_MS[k], reverse=True)
        result["plans"] = {k: _plan_head(await explain(urls[EXPLAINED[k][0]], EXPLAINED[k][1]))
                           for k in slowest[:3]}
        result["replicas"] = [await replicas_run(world, urls, c, seconds=sizes.replica_seconds,
                                                 concurrency=sizes.concurrency) for c in replica_counts]
        result["database_mib"] = {s: round(int(await _scalar(admin_url, "SELECT pg_database_size($1)", n)) / 2**20)
                                  for s, n in names.items()}
        return result
    finally:
        if not keep:
            for name in names.values():
                with contextlib.suppress(Exception):
                    await drop_database(admin_url, name)
        world.cleanup()
