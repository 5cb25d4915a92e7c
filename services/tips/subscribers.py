"""Tips consumers: tips forwarded by other agencies (TipSubmitted.v1 on the INBOUND stream), and the kinds of
units (UnitRegistered.v1), for the figures by unit kind."""

from __future__ import annotations

from services.tips.handlers import TipsContext, on_inbound_tips, on_units_registered
from shared.bus.consumer import Delivery
from shared.contracts.events import TipSubmitted, UnitRegistered
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service, ctx: TipsContext) -> None:
    @service.batch_consumer("inbound", stream="INBOUND", subject=f"antq.inbound.*.{TipSubmitted.TYPE}",
                            types={TipSubmitted.TYPE}, description="Tips forwarded by other agencies")
    async def inbound_tips(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await on_inbound_tips(deliveries, uow, ctx=ctx)

    @service.batch_consumer("units", stream="UNITS", subject=UnitRegistered.TYPE, types={UnitRegistered.TYPE},
                            description="The kinds of units, for the tips figures by unit kind")
    async def units_registered(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await on_units_registered(deliveries, uow, now=ctx.now())
