"""Composition root of the units service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from fastapi import FastAPI

from services.units import api, subscribers, tasks
from services.units.context import UnitsContext
from services.units.domain import load_agency_trust, load_evidence_rules
from services.units.domain.activities import load_activity_kinds
from shared.blobs import blob_storage
from shared.bodylimit import MiB
from shared.deps import install_context
from shared.service import Service
from shared.settings import Settings

EVIDENCE_UPLOADS = "/units/*/cycles/*/criteria/*/evidence"


def build(settings: Settings) -> Service:
    load_activity_kinds()  # the activity-kinds data is checked before anything starts: a bad file stops start-up
    service = Service("units", settings, title="antq units",
                      description="The registry of agencies, enterprises and schools and their yearly ANTT cycle.")
    ctx = UnitsContext(
        db=service.db,
        clock=lambda: service.clock(),
        # Read before anything starts: a trust file that does not validate stops the service here.
        trust=load_agency_trust(settings.units_agencies_file),
        evidence_rules=load_evidence_rules(settings.units_evidence_max_bytes),
        evidence_storage=blob_storage(settings, "units", settings.units_evidence_dir or settings.data_dir / "evidence"),
        import_chunk_rows=settings.units_import_chunk_rows,
        batch_max_items=settings.units_batch_max_items,
        stats_max_age=settings.units_stats_max_age,
    )
    install_context(service.app, ctx)
    subscribers.register(service, ctx)
    # One evidence file in a multipart body: the largest file plus room for the framing.
    service.app.state.body_limits = {EVIDENCE_UPLOADS: settings.units_evidence_max_bytes + MiB}
    service.include_router(api.router)
    service.background("gauges", tasks.gauges(ctx, service.registry, settings.units_metrics_refresh_seconds))
    if settings.units_stats_max_age > 0:
        service.background("stats", tasks.stats_refresher(ctx))
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
