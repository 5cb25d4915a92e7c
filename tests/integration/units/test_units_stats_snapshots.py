"""`GET /stats` for the nation and a province from the shared snapshot (`stats_snapshots`, migration 0010): served
while younger than the max age, recomputed after it, shared by the replicas on one database, kept warm by the
refresher that one replica runs at a time. A commune's figures stay live. Time is the harnesses' clocks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from services.units import handlers, store
from services.units.domain import StatsQuery
from shared.settings import Settings
from shared.testing import eventually
from tests.integration.units.units_support import NOW, Harness, units_harness

MAX_AGE = 600
COMMUNE = "79.26743"


@contextlib.asynccontextmanager
async def replica(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
                  namespace: str) -> AsyncIterator[Harness]:
    async with units_harness(settings_factory, database_url, nats_url, namespace,
                             units_stats_max_age=MAX_AGE) as harness:
        yield harness


@pytest.fixture
async def units(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
                namespace: str) -> AsyncIterator[Harness]:
    async with replica(settings_factory, database_url, nats_url, namespace) as harness:
        yield harness


async def stats(h: Harness, **params: Any) -> tuple[dict[str, Any], str]:
    r = await h.http.get("/stats", headers=h.admin, params={"year": 2026, **params})
    assert r.status_code == 200, r.text
    return r.json(), r.headers["cache-control"]


def at(body: dict[str, Any]) -> datetime:
    computed_at = datetime.fromisoformat(body["computed_at"])
    assert computed_at.tzinfo is not None
    return computed_at


def later(h: Harness, seconds: float) -> datetime:
    h.clock.now = h.clock.now + timedelta(seconds=seconds)
    return h.clock.now


async def test_the_nation_s_and_a_province_s_figures_are_served_from_the_snapshot_until_the_max_age(
        units: Harness) -> None:
    await units.create_unit(area_code=COMMUNE)
    # Past whatever the refresher computed when the service started: these requests compute and store.
    first = later(units, MAX_AGE + 1)
    nation, cache = await stats(units)
    province, _ = await stats(units, area_code="79")
    assert nation["units"]["total"] == province["units"]["total"] == 1
    assert at(nation) == at(province) == first and cache == f"private, max-age={MAX_AGE}"

    await units.create_unit(area_code=COMMUNE)
    later(units, MAX_AGE - 100)
    # Within the max age: the stored figures, with the time they were computed.
    nation, cache = await stats(units)
    province, _ = await stats(units, area_code="79")
    assert nation["units"]["total"] == province["units"]["total"] == 1
    assert at(nation) == at(province) == first and cache == "private, max-age=100"
    # A commune's are computed for the request; a kind of the nation has its own snapshot.
    commune, cache = await stats(units, area_code=COMMUNE)
    assert commune["units"]["total"] == 2 and at(commune) == units.clock.now and cache == "private, no-cache"
    by_kind, _ = await stats(units, kind="enterprise")
    assert by_kind["units"]["total"] == 2 and at(by_kind) == units.clock.now

    # Past the max age: computed again, and the new figures stored.
    second = later(units, 100)
    nation, cache = await stats(units)
    assert nation["units"]["total"] == 2 and at(nation) == second and cache == f"private, max-age={MAX_AGE}"
    later(units, 1)
    again, _ = await stats(units)
    assert at(again) == second
    province, _ = await stats(units, area_code="79")
    assert province["units"]["total"] == 2 and at(province) == units.clock.now


async def test_one_replica_s_figures_serve_the_other_on_the_same_database(
        units: Harness, settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
        nats_url: str, namespace: str) -> None:
    async with replica(settings_factory, database_url, nats_url, namespace) as other:
        await units.create_unit(area_code=COMMUNE)
        computed = later(units, MAX_AGE + 1)
        other.clock.now = computed + timedelta(seconds=30)
        nation, _ = await stats(units)
        assert nation["units"]["total"] == 1 and at(nation) == computed
        await other.create_unit(area_code="01.00004")
        served, cache = await stats(other)
        assert served == nation and cache == f"private, max-age={MAX_AGE - 30}"


async def test_the_refresher_computes_each_key_once_among_replicas_and_keeps_what_is_read_warm(
        units: Harness, settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
        nats_url: str, namespace: str) -> None:
    async with replica(settings_factory, database_url, nats_url, namespace) as other:
        await units.create_unit(area_code=COMMUNE)
        read = later(units, MAX_AGE + 1)
        await stats(units, area_code="79")  # read lately: the refresher keeps it warm
        await stats(units, area_code=COMMUNE)  # a commune is never stored
        now = read + timedelta(seconds=MAX_AGE / 2 + 1)
        await units.create_unit(area_code=COMMUNE)

        done = await asyncio.gather(*(handlers.refresh_stats_cmd(h.service.db, now=now, max_age=MAX_AGE)
                                      for h in (units, other)))
        year = 2026
        assert sorted(k.area_code or "" for run in done for k in run) == ["", "79"]  # each key by one of the two
        assert {StatsQuery(year=year), StatsQuery(year=year, area_code="79")} == {k for run in done for k in run}
        # Fresh now: nothing to do until they are half the max age old again.
        assert await handlers.refresh_stats_cmd(other.service.db, now=now, max_age=MAX_AGE) == []

        units.clock.now = now + timedelta(seconds=5)
        nation, _ = await stats(units)
        province, _ = await stats(units, area_code="79")
        assert at(nation) == at(province) == now
        assert nation["units"]["total"] == province["units"]["total"] == 2


async def test_a_claim_that_has_not_expired_keeps_other_replicas_off_the_key(units: Harness) -> None:
    db = units.service.db
    now = NOW + timedelta(days=1)
    async with db.unit_of_work() as uow:
        assert await store.claim_stats_snapshot(session=uow.session, query=StatsQuery(year=2026), now=now,
                                                computed_before=now, until=now + timedelta(minutes=5))
    assert await handlers.refresh_stats_cmd(db, now=now + timedelta(minutes=1), max_age=MAX_AGE) == []
    # The request path does not wait for it: no figures stored yet, so they are computed for the request.
    units.clock.now = now + timedelta(minutes=1)
    nation, _ = await stats(units)
    assert at(nation) == units.clock.now
    # An expired claim (its replica stopped) is taken over.
    later_now = now + timedelta(minutes=6) + timedelta(seconds=MAX_AGE)
    assert await handlers.refresh_stats_cmd(db, now=later_now, max_age=MAX_AGE) == [StatsQuery(year=2026)]


async def test_bad_input_and_scopes_are_refused_as_before_with_snapshots(units: Harness) -> None:
    for params in ({"year": 1999}, {"area_code": "79.bad.code"}, {"kind": "ship"}, {"area_code": "99"}):
        r = await units.http.get("/stats", headers=units.admin, params=params)
        assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
    officer = units.auth("officer", area="79")
    assert (await units.http.get("/stats", headers=officer, params={"area_code": "01"})).status_code == 403
    assert (await units.http.get("/stats")).status_code == 401
    mine = await units.http.get("/stats", headers=officer, params={"year": 2026})
    assert mine.status_code == 200 and mine.json()["area_code"] == "79"
    assert mine.headers["cache-control"].startswith("private, max-age=")


async def test_the_refresher_runs_from_start_up_and_a_max_age_of_0_computes_every_request(
        units: Harness, settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
        nats_url: str, namespace: str) -> None:
    assert Settings.model_fields["units_stats_max_age"].default == 60  # production: figures at most a minute old
    assert "stats" in [name for name, _ in units.service._task_factories]

    async def warm() -> bool:
        async with units.service.db.read() as session:
            stored = await store.read_stats_snapshot(session=session, query=StatsQuery(year=2026))
        return stored is not None and stored[0] is not None and stored[0].computed_at == NOW

    await eventually(warm, timeout=15, what="the nation's snapshot computed at start-up")

    # Max age 0 (what the other tests run with): no job, nothing stored, every answer computed for the request.
    async with units_harness(settings_factory, database_url, nats_url, namespace) as live:
        assert "stats" not in [name for name, _ in live.service._task_factories]
        await live.create_unit(area_code=COMMUNE)
        live.clock.now = NOW + timedelta(hours=1)
        r = await live.http.get("/stats", headers=live.admin, params={"area_code": "79"})
        assert r.json()["units"]["total"] == 1 and at(r.json()) == live.clock.now
        assert r.headers["cache-control"] == "private, no-cache"
        async with live.service.db.read() as session:
            keys = (await session.execute(select(func.count()).select_from(store.stats_snapshots)
                                          .where(store.stats_snapshots.c.area_code == "79"))).scalar_one()
        assert keys == 0
