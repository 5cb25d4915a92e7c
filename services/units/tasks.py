"""Background jobs of the units service, started by app.py: the registry's gauges, the /stats snapshots."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Gauge

from services.units import handlers, store
from services.units.context import UnitsContext
from shared.service import TaskFactory

log = logging.getLogger(__name__)


class UnitGauges:
    """`antq_units_units{kind,in_scope}` and `antq_units_cycles{year,state}`, recomputed periodically in SQL."""

    def __init__(self, ctx: UnitsContext, registry: CollectorRegistry, every: float):
        self.ctx = ctx
        self.every = every
        self.units = Gauge("antq_units_units", "Active units in the registry", ["kind", "in_scope"],
                           registry=registry)
        self.cycles = Gauge("antq_units_cycles", "Yearly ANTT cycles by state", ["year", "state"],
                            registry=registry)

    async def refresh(self) -> None:
        async with self.ctx.db.read() as session:
            unit_counts = await store.unit_counts(session=session)
            cycle_counts = await store.cycle_counts(session=session)
        # Clearing first drops label sets that no longer have any unit (e.g. every cycle of a year decided).
        self.units.clear()
        for kind in ("agency", "enterprise", "school"):
            for scope in ("true", "false"):
                self.units.labels(kind, scope).set(0)
        for kind, in_scope, n in unit_counts:
            self.units.labels(kind, "true" if in_scope else "false").set(n)
        self.cycles.clear()
        for year, state, n in cycle_counts:
            self.cycles.labels(str(year), state).set(n)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 — a failed refresh keeps the last figures; /readyz reports db
                log.warning("units gauges not refreshed: %s", exc)
            await asyncio.sleep(self.every)


def gauges(ctx: UnitsContext, registry: CollectorRegistry, every: float) -> TaskFactory:
    """The `gauges` job: the registry's counts as Prometheus gauges, recomputed every `every` seconds."""
    job = UnitGauges(ctx, registry, every)
    return lambda _service: job.run()


class StatsRefresher:
    """Keeps the current year's /stats snapshots (the nation's, the provinces' read lately) younger than the max
    age, so that requests rarely compute them: every quarter of the max age it recomputes those older than half of
    it. Every replica runs it; the database claim lets one of them compute each key."""

    def __init__(self, ctx: UnitsContext):
        self.ctx = ctx
        self.every = max(1.0, ctx.stats_max_age / 4)

    async def refresh(self) -> list[str]:
        keys = await handlers.refresh_stats_cmd(self.ctx.db, now=self.ctx.now(), max_age=self.ctx.stats_max_age)
        return [k.area_code or "nation" for k in keys]

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 — requests compute live meanwhile; the next round retries
                log.warning("units stats snapshots not refreshed: %s", exc)
            await asyncio.sleep(self.every)


def stats_refresher(ctx: UnitsContext) -> TaskFactory:
    """The `stats` job: the shared /stats snapshots kept warm (app.py starts it when the max age is not 0)."""
    job = StatsRefresher(ctx)
    return lambda _service: job.run()
