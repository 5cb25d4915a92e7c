"""Background jobs of the units service, started by app.py: the registry's gauges."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Gauge

from services.units import store
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
