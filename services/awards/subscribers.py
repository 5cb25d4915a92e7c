"""Awards consumers: the units service's certification events."""

from __future__ import annotations

from services.awards.handlers import on_units_event
from shared.bus.consumer import Delivery
from shared.contracts.events import CertificationRevoked, UnitCertified
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service) -> None:
    @service.consumer("units", stream="UNITS", subject="antq.units.>",
                      types={UnitCertified.TYPE, CertificationRevoked.TYPE},
                      description="Certifications and revocations, the basis of collective awards")
    async def units(delivery: Delivery, uow: UnitOfWork) -> None:
        await on_units_event(delivery, uow)
