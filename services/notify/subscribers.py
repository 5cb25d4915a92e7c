"""Notify consumers: events of the other services that someone should hear about."""

from __future__ import annotations

from services.notify.handlers import on_tip_received
from shared.bus.consumer import Delivery
from shared.contracts.events import TipReceived
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service) -> None:
    @service.consumer("tips", stream="TIPS", subject="antq.tips.>", types={TipReceived.TYPE},
                      description="Tip events for officers' inboxes")
    async def tips(delivery: Delivery, uow: UnitOfWork) -> None:
        await on_tip_received(delivery, uow)
