"""Units consumers: registry records published by other agencies (UnitUpserted.v1 on the INBOUND stream)."""

from __future__ import annotations

from services.units.handlers import on_unit_upserted
from shared.bus.consumer import Delivery
from shared.contracts.events import UnitUpserted
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service) -> None:
    @service.consumer("inbound-units", stream="INBOUND", subject=f"antq.inbound.*.{UnitUpserted.TYPE}",
                      types={UnitUpserted.TYPE}, description="Units from business and school registries")
    async def inbound_units(delivery: Delivery, uow: UnitOfWork) -> None:
        await on_unit_upserted(delivery, uow)
