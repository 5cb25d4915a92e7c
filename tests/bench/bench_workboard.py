"""The officers' workboard under a province's registry: `/cycles` rendered by the console for a commune of 2,000
units and for the province's 25,000, the last page of the province reached by the keyset cursor, and a batch
decision (and appraisal) of 500 selected rows end to end.

The units and console services run as their own processes (`antq serve units`, `antq serve console`). The units
are imported through the units API (`POST /imports/units`, JSON lines), and the commune's dossiers are brought to
their states through the batch endpoints, as the campaign benchmark does: all 2,000 registered, 1,600
self-assessed (every criterion met) and submitted, 1,100 of those appraised with a recommendation; 20 of the
others have a disqualifying incident. Officers are console sessions that signed in on the form; every figure is a
whole page request to the console (which calls `GET /workboard` and `GET /workboard/counts` on the units service
with the officer's token, then renders).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from shared import places
from shared.calendar import assessment_year_of
from shared.db import utcnow
from tests.bench.bench_console import _accounts
from tests.bench.common import World, ms, percentile, processes, service_process
from tests.console_world import csrf_of, sign_in

HCMC = places.communes_of("79")
COMMUNE = "79.26743"  # Phường Bến Thành
CRITERIA = ["A6.1", "A6.2", "A6.3", "A6.4", "79.1", "79.2", "79.3"]
BATCH = 500
UNIT_ROW = re.compile(r'<tr data-unit="([^"]+)"')


def _records(commune_units: int, province_units: int) -> bytes:
    others = [p for p in HCMC if p.code != COMMUNE]
    lines = []
    for i in range(province_units):
        area = COMMUNE if i < commune_units else others[i % len(others)].code
        lines.append(json.dumps({"name": f"Công ty TNHH Sản xuất {i:05d}", "kind": "enterprise", "area_code": area,
                                 "tax_code": f"03{i:08d}", "external_key": f"WB-{i:05d}", "size": "medium"},
                                ensure_ascii=False))
    return "\n".join(lines).encode()


async def _ids(http: httpx.AsyncClient, area: str) -> list[str]:
    out: list[str] = []
    cursor = None
    while True:
        page = (await http.get("/units", params={"limit": 500, "area_code": area, **(
            {"cursor": cursor} if cursor else {})})).raise_for_status().json()
        out += [u["unit_id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return out


async def _prefill(http: httpx.AsyncClient, year: int, commune_units: int, province_units: int) -> dict[str, Any]:
    started = time.perf_counter()
    r = await http.post("/imports/units", content=_records(commune_units, province_units), params={"rows": "none"},
                        headers={"content-type": "application/x-ndjson"})
    r.raise_for_status()
    assert r.json()["created"] == province_units, r.json()
    ids = await _ids(http, COMMUNE)
    assessed, appraised = ids[: commune_units * 4 // 5], ids[: commune_units * 11 // 20]
    for path, body in (
        ("registrations", {"unit_ids": ids}),
        ("self-assessments", {"items": [{"unit_id": u, "results": {c: {"result": "met"} for c in CRITERIA}}
                                        for u in assessed]}),
        ("submissions", {"unit_ids": assessed}),
        ("appraisals", {"items": [{"unit_id": u, "recommended": True} for u in appraised]}),
    ):
        result = (await http.post(f"/batches/{path}", json={"year": year, "area_code": COMMUNE, **body})) \
            .raise_for_status().json()
        assert result["failed"] == 0, (path, [i for i in result["items"] if not i["ok"]][:3])
    for unit_id in ids[len(assessed):][:20]:  # registered only: the batches below select none of them
        (await http.post(f"/units/{unit_id}/incidents", json={
            "category": "high_value_theft", "occurred_at": utcnow().isoformat()})).raise_for_status()
    return {"prefill_s": round(time.perf_counter() - started, 1), "appraised": len(appraised)}


async def _renders(client: httpx.AsyncClient, url: str, n: int) -> dict[str, Any]:
    times: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        r = await client.get(url)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200 and 'id="board"' in r.text, (url, r.status_code, r.text[:300])
    return {"renders": n, "p50_ms": ms(percentile(times, 50)), "p99_ms": ms(percentile(times, 99))}


async def _last_page(client: httpx.AsyncClient) -> tuple[str, int]:
    """The province board's last page (size 500), reached by following the keyset cursor; and how many pages."""
    url, pages = "/cycles?size=500", 1
    while True:
        r = await client.get(url)
        nxt = re.search(r'<a href="([^"]+)" id="more"', r.text)
        if not nxt:
            return url, pages
        url, pages = nxt.group(1).replace("&amp;", "&"), pages + 1


async def _batch(client: httpx.AsyncClient, year: int, show: str, step: dict[str, str]) -> dict[str, Any]:
    """Select the first 500 rows of a filter on the commune's board and send one batch; end-to-end time of the
    form's POST (the console calls the units batch endpoint, then renders the board again)."""
    page = await client.get(f"/cycles?show={show}&size={BATCH}")
    ids = UNIT_ROW.findall(page.text)[:BATCH]
    assert ids, show
    form = [("csrf", csrf_of(page.text)), ("year", str(year)), ("area", COMMUNE), ("show", show),
            ("size", str(BATCH)), *step.items(), *(("unit_id", u) for u in ids)]
    t = time.perf_counter()
    r = await client.post("/cycles", content=urlencode(form).encode(),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    took = time.perf_counter() - t
    assert r.status_code == 200 and 'id="notice"' in r.text and "batch-failures" not in r.text, r.text[:500]
    return {"rows": len(ids), "ms": ms(took)}


async def run(nats_url: str, *, commune_units: int = 2000, province_units: int = 25_000,
              renders: int = 60, timeout: float = 120.0) -> dict[str, Any]:
    world = World(nats_url)
    year = assessment_year_of(utcnow())
    try:
        await _accounts(world, ["officer_province"])
        await _commune_account(world, "officer_commune")
        units = service_process(world, "units")
        console = service_process(world, "console", {
            "ANTQ_CONSOLE_UNITS_URL": f"http://127.0.0.1:{units.port}", "ANTQ_CONSOLE_ARGON2_PROFILE": "fast",
            "ANTQ_CONSOLE_HTTP_TIMEOUT": str(timeout)})
        async with processes(units, console):
            admin = {"authorization": "Bearer " + world.token(role="admin", sub="bench", ttl=3600)}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{units.port}", headers=admin,
                                         timeout=600) as http:
                prefill = await _prefill(http, year, commune_units, province_units)
            base = f"http://127.0.0.1:{console.port}"
            async with contextlib.AsyncExitStack() as stack:
                commune = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=timeout))
                province = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=timeout))
                assert (await sign_in(commune, "officer_commune")).status_code == 303
                assert (await sign_in(province, "officer_province")).status_code == 303
                for client in (commune, province):  # warm: the first page loads the templates and names
                    await client.get("/cycles")
                last_url, pages = await _last_page(province)
                figures = {
                    "commune_board": await _renders(commune, "/cycles", renders),
                    "commune_awaiting_appraisal": await _renders(commune, "/cycles?show=awaiting_appraisal",
                                                                 renders),
                    "province_board": await _renders(province, "/cycles", renders),
                    "province_not_registered": await _renders(province, "/cycles?show=not_registered", renders),
                    "province_last_page_500": {**await _renders(province, last_url, max(10, renders // 4)),
                                               "pages": pages},
                }
                appraise = await _batch(commune, year, "awaiting_appraisal", {"step": "appraise",
                                                                              "recommended": "yes"})
                decide = await _batch(commune, year, "awaiting_decision", {
                    "step": "decide", "recognized": "yes", "decision_no": "125/QĐ-UBND", "rating": "good"})
        return {"commune_units": commune_units, "province_units": province_units, "year": year, **prefill,
                **figures, "batch_appraisal": appraise, "batch_decision": decide}
    finally:
        with contextlib.suppress(Exception):
            world.cleanup()


async def _commune_account(world: World, name: str) -> None:
    from services.console.domain.accounts import Account
    from services.console.handlers import Accounts
    from shared.db import Database
    from tests.console_world import PASSWORD

    db = Database(world.env("console", 0)["ANTQ_CONSOLE_DATABASE_URL"], source="antq/console")
    try:
        accounts = Accounts(db, world.settings(console_argon2_profile="fast"))
        await accounts.add(Account(name, "officer", area=COMMUNE), PASSWORD, now=utcnow())
    finally:
        await db.dispose()
