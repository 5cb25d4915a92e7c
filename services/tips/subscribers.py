"""Tips consumers: tips forwarded by other agencies (TipSubmitted.v1 on the INBOUND stream)."""

from __future__ import annotations

from services.tips.handlers import TipsContext, on_inbound_tip
from shared.bus.consumer import Delivery
from shared.contracts.events import TipSubmitted
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service, ctx: TipsContext) -> None:
    @service.consumer("inbound", stream="INBOUND", subject=f"antq.inbound.*.{TipSubmitted.TYPE}",
                      types={TipSubmitted.TYPE}, description="Tips forwarded by other agencies")
    async def inbound_tip(delivery: Delivery, uow: UnitOfWork) -> None:
        await on_inbound_tip(delivery, uow, ctx=ctx)
