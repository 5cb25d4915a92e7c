"""Tips consumers: tips forwarded by other agencies (TipSubmitted.v1 on the INBOUND_TIPS stream), and the units'
kinds, names and areas (UnitRegistered.v1, UnitUpdated.v1), for the figures by unit kind and the public form."""

from __future__ import annotations

from services.tips.context import TipsContext
from services.tips.handlers import on_inbound_tips, on_unit_events
from shared.bus.consumer import Delivery
from shared.contracts.events import TipSubmitted, UnitRegistered, UnitUpdated
from shared.db import UnitOfWork
from shared.service import Service


def register(service: Service, ctx: TipsContext) -> None:
    # A stream of their own (INBOUND_TIPS, work-queue: a message is removed once processed), and DLQ records
    # without the message's bytes: an agency's message may carry a reporter's identity in clear by mistake.
    @service.batch_consumer("inbound", stream="INBOUND_TIPS", subject=f"antq.inbound.*.{TipSubmitted.TYPE}",
                            types={TipSubmitted.TYPE}, dlq_keeps_body=False,
                            description="Tips forwarded by other agencies; the reporter's identity only sealed "
                                        "(reporter_jwe: compact JWE, ECDH-ES + A256GCM, to a key of the tips "
                                        "service's GET /.well-known/jwks.json)")
    async def inbound_tips(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await on_inbound_tips(deliveries, uow, ctx=ctx)

    # The UNITS stream's other events (cycles, incidents …) are skipped by type, acknowledged unread.
    @service.batch_consumer("units", stream="UNITS", subject="antq.units.>",
                            types={UnitRegistered.TYPE, UnitUpdated.TYPE},
                            description="The units' kinds, names and areas: the tips figures by unit kind and "
                                        "the public form's list of a commune's units")
    async def unit_events(deliveries: list[Delivery], uow: UnitOfWork) -> None:
        await on_unit_events(deliveries, uow, now=ctx.now())
