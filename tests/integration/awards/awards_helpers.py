"""Helpers of the awards integration tests: publish catalogue events as the units/tips services would, wait for
the awards consumers to drain, and read what the awards service published."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
from nats.aio.client import Client
from sqlalchemy import func, select

from services.awards.app import build
from shared.contracts.envelope import CloudEvent, new_event
from shared.contracts.events import (
    CertificationRevoked,
    EventData,
    TipReceived,
    TipVerified,
    UnitCertified,
    UnitRegistered,
)
from shared.db import outbox
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.spine.helpers import stream_messages

SOURCES = {"units": "antq/units", "tips": "antq/tips"}


@dataclass
class Bus:
    """Publishes envelopes on the test's namespace exactly as a service's outbox relay does."""

    nc: Client
    namespace: str
    nats_url: str

    async def publish(self, data: EventData, *, event_id: str | None = None, time: datetime | None = None
                      ) -> CloudEvent:
        source = SOURCES[data.TYPE.split(".")[1]]
        envelope = new_event(data, source=source, event_id=event_id, time=time)
        await self.send(envelope)
        return envelope

    async def send(self, envelope: CloudEvent, *, msg_id: str | None = None) -> None:
        """Publish an envelope; a fresh `msg_id` bypasses JetStream de-duplication (a true redelivery/replay)."""
        await self.nc.jetstream().publish(f"{self.namespace}.{envelope.type}", envelope.to_bytes(),
                                          headers={"Nats-Msg-Id": msg_id or envelope.id}, timeout=5)

    async def events(self, stream: str = "AWARDS", type_suffix: str | None = None) -> list[dict[str, Any]]:
        messages = await stream_messages(self.nats_url, f"{self.namespace}_{stream}")
        bodies = [m["body"] for m in messages]
        return [b for b in bodies if type_suffix is None or b["type"].endswith(type_suffix)]


async def connect_bus(nats_url: str, namespace: str) -> Bus:
    return Bus(await nats.connect(nats_url), namespace, nats_url)


async def drained(service: Service, *consumers: str, timeout: float = 15) -> None:
    """Wait until the named durable consumers have acknowledged every message published so far, and the
    service's outbox has published everything those messages caused."""
    js = service.js()
    names = consumers or tuple(c.name for c in service.consumers)

    async def done() -> bool:
        for consumer in service.consumers:
            if consumer.name not in names:
                continue
            info = await js.consumer_info(service.ns.stream(consumer.stream), consumer.name)
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    async def outbox_empty() -> bool:
        async with service.db.read() as session:
            pending = (await session.execute(select(func.count()).select_from(outbox)
                                             .where(outbox.c.state != "sent"))).scalar_one()
        return pending == 0

    await eventually(done, timeout=timeout, what=f"consumers {names} drained")
    await eventually(outbox_empty, timeout=timeout, what=f"{service.name} outbox published")


def registered(unit_id: str, area_code: str, name: str = "Trường THPT Demo") -> UnitRegistered:
    return UnitRegistered(unit_id=unit_id, name=name, kind="school", area_code=area_code, in_scope=True)


def certified(unit_id: str, year: int, *, level: str = "commune", rating: str | None = None,
              consecutive: int = 1) -> UnitCertified:
    return UnitCertified.model_validate({
        "unit_id": unit_id, "year": year, "rating": rating, "decision_no": f"{year}/QĐ-UBND",
        "decided_at": datetime(year, 11, 30, tzinfo=UTC), "decided_by_level": level,
        "consecutive_years": consecutive})


async def qualify(bus: Bus, unit_id: str, first: int, last: int) -> None:
    """Recognise a unit every year from `first` to `last`, so that a manual Giấy khen (two consecutive years)
    meets the rule in each year after the first. The rules themselves owe one every second year counted from
    `first` (first + 1, first + 3...): a manual nomination for such a year finds it proposed already."""
    for year in range(first, last + 1):
        await bus.publish(certified(unit_id, year))


def revoked(unit_id: str, year: int, reason: str = "illegal strike confirmed after recognition") -> (
        CertificationRevoked):
    return CertificationRevoked(unit_id=unit_id, year=year, reason=reason, incident_id=f"inc-{uuid.uuid4().hex[:6]}")


def tip_received(tip_id: str, area_code: str | None) -> TipReceived:
    return TipReceived(tip_id=tip_id, category="theft", channel="web", area_code=area_code, anonymous=True,
                       priority="normal", received_at=datetime.now(UTC))


def tip_verified(tip_id: str, reward_ref: str | None, *, valuable: bool = True,
                 outcome: str = "prosecuted") -> TipVerified:
    return TipVerified.model_validate({"tip_id": tip_id, "valuable": valuable, "outcome": outcome,
                                       "reward_ref": reward_ref})


@dataclass
class Awards:
    """A running awards service of one test: its Service, an HTTP client bound to it, and the test's bus."""

    service: Service
    http: httpx.AsyncClient
    bus: Bus

    def token(self, role: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service.tokens.issue(role=role, **kw)}"}


@contextlib.asynccontextmanager
async def awards_running(settings: Settings, nats_url: str, namespace: str) -> AsyncIterator[Awards]:
    """The awards service built from `settings`, running, with a bus client on the test's namespace."""
    service = build(settings)
    bus = await connect_bus(nats_url, namespace)
    try:
        async with running(service) as http:
            yield Awards(service, http, bus)
    finally:
        await bus.nc.close()
