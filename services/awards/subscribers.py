"""Awards consumers: the units service's unit and certification events, and the tips service's tip events."""

from __future__ import annotations

from services.awards import handlers
from services.awards.context import AwardsContext
from shared.bus.consumer import Delivery
from shared.contracts.events import (
    AwardHeldImported,
    CertificationRestored,
    CertificationRevoked,
    RecognitionImported,
    TipReceived,
    TipTriaged,
    TipVerified,
    UnitCertified,
    UnitRegistered,
    UnitUpdated,
)
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service, ctx: AwardsContext) -> None:
    @service.batch_consumer("units", stream="UNITS", subject="antq.units.>",
                            types={UnitRegistered.TYPE, UnitUpdated.TYPE, UnitCertified.TYPE,
                                   CertificationRevoked.TYPE, CertificationRestored.TYPE, RecognitionImported.TYPE,
                                   AwardHeldImported.TYPE},
                            description="Units (area, for scope and quotas), recognitions, revocations and "
                                        "restorations, and the past years and awards held of the history import: "
                                        "the basis of collective awards")
    async def units(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await handlers.on_unit_events(deliveries, uow, now=ctx.now())

    @service.batch_consumer("tips", stream="TIPS", subject="antq.tips.>",
                            types={TipReceived.TYPE, TipTriaged.TYPE, TipVerified.TYPE},
                            description="Tips (area, for reward quotas) and verifications: valuable tips owe a reward")
    async def tips(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await handlers.on_tip_events(deliveries, uow, now=ctx.now())
