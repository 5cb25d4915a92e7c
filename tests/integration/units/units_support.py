"""Test support for the units service: an in-process service with a movable clock, tokens, bus helpers."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from services.units.app import build
from shared.db import outbox
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.spine.helpers import publish_raw, stream_messages

# Inside assessment year 2026 (16 Nov 2025 – 15 Nov 2026), before the 31 March registration deadline.
NOW = datetime(2026, 2, 10, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Harness:
    service: Service
    http: httpx.AsyncClient
    clock: Clock
    nats_url: str
    namespace: str

    def auth(self, role: str = "admin", *, area: str | None = None, unit: str | None = None) -> dict[str, str]:
        token = self.service.tokens.issue(role=role, area=area, unit=unit)
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.auth("admin")

    async def create_unit(self, *, name: str | None = None, kind: str = "enterprise", area_code: str = "79.26743",
                          **extra: Any) -> dict[str, Any]:
        key = extra.pop("external_key", None) or f"K-{uuid.uuid4().hex[:10]}"
        body = {"name": name or f"Đơn vị {key}", "kind": kind, "area_code": area_code, "external_key": key, **extra}
        r = await self.http.post("/units", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def outbox_drained(self) -> None:
        async def empty() -> bool:
            async with self.service.db.read() as session:
                n = (await session.execute(select(func.count()).select_from(outbox)
                                           .where(outbox.c.state != "sent"))).scalar_one()
            return n == 0
        await eventually(empty, timeout=15, what="outbox drained")

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        """`data` of every published event of this type (after the outbox drained)."""
        await self.outbox_drained()
        messages = await stream_messages(self.nats_url, f"{self.namespace}_UNITS")
        return [m["body"]["data"] for m in messages if m["subject"] == f"{self.namespace}.{event_type}"]

    async def publish_inbound(self, agency: str, type_: str, data: dict[str, Any], *,
                              source: str | None = None, event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        envelope = {"specversion": "1.0", "id": event_id, "source": source or f"agency/{agency}", "type": type_,
                    "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json", "data": data}
        await publish_raw(self.nats_url, f"{self.namespace}.antq.inbound.{agency}.{type_}",
                          json.dumps(envelope).encode(), msg_id=event_id)
        return event_id

    async def dead_letters(self) -> list[dict[str, Any]]:
        return await stream_messages(self.nats_url, f"{self.namespace}_DLQ")


@contextlib.asynccontextmanager
async def units_harness(settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
                        nats_url: str, namespace: str, now: datetime = NOW, **settings: Any) -> AsyncIterator[Harness]:
    service = build(settings_factory(units_database_url=database_url("units"), **settings))
    clock = Clock(now)
    service.clock = clock
    async with running(service) as http:
        yield Harness(service=service, http=http, clock=clock, nats_url=nats_url, namespace=namespace)
