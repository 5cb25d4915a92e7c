"""Notify consumers: every event of the other services, routed into deliveries by the rules and subscriptions."""

from __future__ import annotations

from services.notify.context import NotifyContext
from services.notify.handlers import intake
from shared.bus.consumer import Delivery
from shared.contracts.events import CATALOGUE
from shared.db import UnitOfWork
from shared.service import Service


def _types(prefix: str) -> set[str]:
    return {model.TYPE for model in CATALOGUE if model.TYPE.startswith(prefix)}


def register(service: Service, ctx: NotifyContext) -> None:
    # Keeps its historical name: the durable consumer on the server is the same one as before.
    @service.batch_consumer("tips", stream="TIPS", subject="antq.tips.>", types=_types("antq.tips."),
                      description="Tip events: officers of the tip's area and subscribers hear of them")
    async def tips(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await intake(deliveries, uow, ctx)

    @service.batch_consumer("units", stream="UNITS", subject="antq.units.>", types=_types("antq.units."),
                      description="Unit events: the unit's contacts, area officers and subscribers hear of them")
    async def units(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await intake(deliveries, uow, ctx)

    @service.batch_consumer("awards", stream="AWARDS", subject="antq.awards.>", types=_types("antq.awards."),
                      description="Award events: approvers, the unit concerned and subscribers hear of them")
    async def awards(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await intake(deliveries, uow, ctx)
