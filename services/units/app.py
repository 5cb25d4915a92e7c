"""Composition root of the units service: the only module that builds its engine, broker and app."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from prometheus_client import Gauge

from services.units import api, store, subscribers
from services.units.domain import load_agency_trust, load_evidence_rules
from services.units.domain.activities import load_activity_kinds
from shared.blobs import blob_storage
from shared.bodylimit import MiB
from shared.service import Service
from shared.settings import Settings

log = logging.getLogger(__name__)
EVIDENCE_UPLOADS = "/units/*/cycles/*/criteria/*/evidence"


class UnitGauges:
    """`antq_units_units{kind,in_scope}` and `antq_units_cycles{year,state}`, recomputed periodically in SQL."""

    def __init__(self, service: Service):
        self.service = service
        self.units = Gauge("antq_units_units", "Active units in the registry", ["kind", "in_scope"],
                           registry=service.registry)
        self.cycles = Gauge("antq_units_cycles", "Yearly ANTT cycles by state", ["year", "state"],
                            registry=service.registry)

    async def refresh(self) -> None:
        async with self.service.db.read() as session:
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
            await asyncio.sleep(self.service.settings.units_metrics_refresh_seconds)


def build(settings: Settings) -> Service:
    load_activity_kinds()  # the activity-kinds data is checked before anything starts: a bad file stops start-up
    service = Service("units", settings, title="antq units",
                      description="The registry of agencies, enterprises and schools and their yearly ANTT cycle.")
    # Read before anything starts: a trust file that does not validate stops the service here.
    trust = load_agency_trust(settings.units_agencies_file)
    subscribers.register(service, trust)
    service.app.state.evidence_rules = load_evidence_rules(settings.units_evidence_max_bytes)
    service.app.state.evidence_storage = blob_storage(settings, "units",
                                                      settings.units_evidence_dir or settings.data_dir / "evidence")
    # One evidence file in a multipart body: the largest file plus room for the framing.
    service.app.state.body_limits = {EVIDENCE_UPLOADS: settings.units_evidence_max_bytes + MiB}
    service.include_router(api.router)
    gauges = UnitGauges(service)
    service.background("gauges", lambda _svc: gauges.run())
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
