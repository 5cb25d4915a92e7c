"""Units consumers: decode an inbound record from another agency, call its handler, nothing else."""

from __future__ import annotations

from services.units import handlers
from services.units.context import UnitsContext
from shared.bus.consumer import Delivery
from shared.contracts.events import IncidentReported, UnitUpserted
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service, ctx: UnitsContext) -> None:
    @service.batch_consumer("inbound-units", stream="INBOUND", subject=f"antq.inbound.*.{UnitUpserted.TYPE}",
                            types={UnitUpserted.TYPE}, description="Units from business and school registries")
    async def inbound_units(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await handlers.on_units_upserted(deliveries, uow, now=ctx.now())

    @service.batch_consumer("inbound-incidents", stream="INBOUND",
                            subject=f"antq.inbound.*.{IncidentReported.TYPE}", types={IncidentReported.TYPE},
                            description="Incidents at units reported by other agencies")
    async def inbound_incidents(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await handlers.on_incidents_reported(deliveries, uow, now=ctx.now(), trust=ctx.trust)
