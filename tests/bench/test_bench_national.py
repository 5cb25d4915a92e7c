"""The national benchmark still runs: at a tiny size on PostgreSQL, every figure there and every count right
(no timing: the figures are `make bench-national`'s)."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from tests.bench import bench_national
from tests.bench.__main__ import rows_for

TINY = bench_national.NationalSizes(units=300, tips=200, notifications=500, import_sample=120, requests=3,
                                    replica_seconds=0.5, concurrency=2)


async def _databases(admin_url: str) -> set[str]:
    url = make_url(admin_url)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                                 database=url.database or "postgres")
    try:
        return {r[0] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'antq_national_%'")}
    finally:
        await conn.close()


async def test_the_national_step_runs_at_a_tiny_size_and_counts_right(nats_url: str, pg_admin_url: str) -> None:
    before = await _databases(pg_admin_url)
    r: dict[str, Any] = await bench_national.run(nats_url, scale=0.0003, sizes=TINY, admin_url=pg_admin_url,
                                                 replica_counts=(1, 2))

    # Every sample row went through the real import, none rejected; the copies fill the registry to size.
    assert r["import"]["units"] == 120 and r["import"]["rejected"] == 0 and r["import"]["units_per_s"] > 0
    assert r["build"]["units"]["units"] == 300 and r["build"]["units"]["templates"] == 120
    assert 0 < r["build"]["units"]["cycles"] <= 300
    assert r["build"]["tips"]["tips"] == 200
    assert r["build"]["notifications"]["notifications"] == 500
    # Every read answered 200 over HTTP, each with its goal; the slowest three explained with their plans.
    assert set(r["reads"]) == set(bench_national.GOALS_MS)
    for name, m in r["reads"].items():
        assert m["errors"] == 0 and m["requests"] >= 3 and m["p99_ms"] >= m["p50_ms"] > 0, name
        assert m["goal_p99_ms"] == bench_national.GOALS_MS[name]
    assert len(r["plans"]) == 3 and all(any("Execution Time" in line for line in p) for p in r["plans"].values())
    # One and two replicas of tips and notify on the same databases: notify handled every tip accepted.
    assert [x["replicas"] for x in r["replicas"]] == [1, 2]
    for x in r["replicas"]:
        assert x["tips_accepted"] > 0 and x["errors"] == 0 and x["notify_caught_up"], x
        assert x["events_handled"] >= x["tips_accepted"]
        assert len(x["cpu_s"]) == 2 * x["replicas"]
    assert rows_for("national", r)
    # The run's databases are gone.
    assert await _databases(pg_admin_url) == before
