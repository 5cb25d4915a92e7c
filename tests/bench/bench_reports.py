"""The movement's report of the seed province's year: XLSX and PDF exports through the console.

The units service's provincial campaign (`bench_units_campaign`: N units of province 79 imported, registered,
self-assessed, submitted, appraised and recognised for 2026) fills its database; then the units, tips, awards,
notify and console services are served over HTTP in this process (`tests.console_world`) on that database, an
officer of 79 signs in on the form, and `/reports/report.xlsx` and `/reports/report.pdf` for 2026 and province
79 are downloaded `repeats` times each. The baseline is the report page itself (`GET /reports`, the same six
`/stats` calls, rendered as HTML); the files' own build time (`report_files.xlsx` / `.pdf` in this process, on the
same report) is measured apart, and so is each service's `GET /stats` of the year alone, so what the services'
`/stats` cost and what printing costs are both visible.

    python -m tests.bench.bench_reports [N]
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from openpyxl import load_workbook

from services.console.domain import report_files, reports
from shared.settings import Settings
from tests.bench.bench_units_campaign import YEAR, _campaign, _drop_streams
from tests.bench.common import bench_nats, ms, percentile
from tests.console_world import console_world, sign_in

AREA = "79"


async def _timed(http: httpx.AsyncClient, path: str, repeats: int) -> tuple[list[float], bytes]:
    times, body = [], b""
    for _ in range(repeats):
        t = time.perf_counter()
        r = await http.get(path, params={"year": YEAR, "area": AREA})
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        body = r.content
    return times, body


def _summary(times: list[float]) -> dict[str, float]:
    return {"p50_ms": ms(percentile(times, 50)), "max_ms": ms(max(times)), "runs": len(times)}


async def run(nats_url: str, n_units: int = 25_000, repeats: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="antq-bench-reports-") as tmp:
        campaign = await _campaign(nats_url, n_units, Path(tmp))

        def settings(**kw: Any) -> Settings:
            base: dict[str, Any] = {"data_dir": Path(tmp), "nats_url": nats_url, "namespace": campaign["namespace"],
                                    "sqlite_synchronous": "NORMAL", "log_json": False, "tips_argon2_profile": "fast",
                                    "units_metrics_refresh_seconds": 60,
                                    # The figures computed for each call, as in the earlier rounds (what a report
                                    # costs when units' snapshot has expired; served figures: bench_national).
                                    "units_stats_max_age": 0}
            return Settings(**(base | kw))

        try:
            async with console_world(settings, also=("units", "awards")) as world:
                await world.add("officer79", area=AREA)
                async with httpx.AsyncClient(base_url=world.urls["console"], timeout=120) as http:
                    r = await sign_in(http, "officer79")
                    assert r.status_code == 303, r.text
                    page, _ = await _timed(http, "/reports", repeats)
                    xlsx, xlsx_body = await _timed(http, "/reports/report.xlsx", repeats)
                    pdf, pdf_body = await _timed(http, "/reports/report.pdf", repeats)
                    in_scope = load_workbook(io.BytesIO(xlsx_body))["Số liệu"]
                    figures = {row[0]: row[1] for row in in_scope.iter_rows(min_row=2, values_only=True)}
                    assert figures["units.units.in_scope"] == n_units, figures["units.units.in_scope"]
                    assert figures["units.cycles.recognised"] == n_units
                    assert pdf_body.startswith(b"%PDF")
                    # The files' own build, on the report the console built (same figures, this process).
                    stats_now, stats_before = {}, {}
                    stats_times: dict[str, list[float]] = {}
                    for source in reports.SOURCES:
                        service = getattr(world, source)
                        headers = {"authorization": "Bearer " + service.tokens.issue(role="officer", area=AREA)}
                        async with httpx.AsyncClient(base_url=world.urls[source], headers=headers,
                                                     timeout=120) as api:
                            for _ in range(repeats):
                                t = time.perf_counter()
                                stats_now[source] = (await api.get("/stats", params={
                                    "year": YEAR, "area_code": AREA})).json()
                                stats_times.setdefault(source, []).append(time.perf_counter() - t)
                            stats_before[source] = (await api.get("/stats", params={
                                "year": YEAR - 1, "area_code": AREA})).json()
                    report = reports.build(stats_now, stats_before, year=YEAR, area_code=AREA, lang="vi",
                                           made_at=world.console.clock())
                    build: dict[str, list[float]] = {"xlsx": [], "pdf": []}
                    for _ in range(repeats):
                        for kind, make in (("xlsx", report_files.xlsx), ("pdf", report_files.pdf)):
                            t = time.perf_counter()
                            make(report)
                            build[kind].append(time.perf_counter() - t)
        finally:
            await _drop_streams(nats_url, campaign["namespace"])
    return {"benchmark": "report exports", "units": n_units, "year": YEAR, "area": AREA,
            "page": _summary(page), "xlsx": _summary(xlsx), "pdf": _summary(pdf),
            "xlsx_bytes": len(xlsx_body), "pdf_bytes": len(pdf_body),
            "build_only": {k: _summary(v) for k, v in build.items()},
            "stats_alone": {k: _summary(v) for k, v in stats_times.items()},
            "campaign_s": round(campaign["total_s"], 1)}


if __name__ == "__main__":
    async def _main() -> dict[str, Any]:
        with bench_nats() as (url, _source):
            return await run(url, int(sys.argv[1]) if len(sys.argv) > 1 else 25_000)

    print(json.dumps(asyncio.run(_main()), indent=2))
