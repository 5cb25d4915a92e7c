"""Helpers of the tips integration tests: a running tips service with a movable clock, tokens, stream reads."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.tips.app import build
from services.tips.domain import seal
from shared.service import Service
from shared.settings import Settings
from shared.testing import running
from tests.integration.spine.helpers import publish_raw, stream_messages

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

REPORTER = {"name": "Trần Thị Bích Ngọc", "phone": "0912 345 678", "email": "ngoc.tran@example.vn",
            "id_number": "079123456789"}
ORG = {"org_name": "Công ty TNHH Hoàng Long Phát", "tax_code": "0312345678"}


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Tips:
    service: Service
    http: httpx.AsyncClient
    settings: Settings
    clock: Clock
    nats_url: str
    namespace: str
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str = "officer", area: str | None = "79", sub: str | None = None, **kw: Any) -> str:
        return self.service.tokens.issue(role=role, area=area, sub=sub or f"{role}-{area}", **kw)

    def auth(self, role: str = "officer", area: str | None = "79", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, area, **kw)}"}

    async def submit(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"category": "theft", "description": "Kẻ gian lấy trộm máy tính ở phòng kế toán",
                                "area_code": "79.26743", "anonymous": True, "location": "Phòng kế toán, tầng 2"}
        body.update(overrides)
        r = await self.http.post("/tips", json=body)
        assert r.status_code == 202, r.text
        return dict(r.json())

    async def events(self, type_suffix: str | None = None) -> list[dict[str, Any]]:
        msgs = await stream_messages(self.nats_url, f"{self.namespace}_TIPS")
        out = [m for m in msgs if type_suffix is None or m["subject"].endswith(type_suffix)]
        return out

    async def seal(self, identity: dict[str, Any]) -> str:
        """What a forwarding agency does: the identity sealed to the key the service publishes."""
        r = await self.http.get("/.well-known/jwks.json")
        assert r.status_code == 200, r.text
        return seal(identity, r.json())

    async def publish_inbound(self, agency: str, data: dict[str, Any], event_id: str, *,
                              source: str | None = None) -> None:
        envelope = {"specversion": "1.0", "id": event_id, "source": source or f"agency/{agency}",
                    "type": "TipSubmitted.v1", "time": "2026-03-02T01:00:00Z", "datacontenttype": "application/json",
                    "data": data}
        await publish_raw(self.nats_url, f"{self.namespace}.antq.inbound.{agency}.TipSubmitted.v1",
                          json.dumps(envelope).encode(), msg_id=event_id)


@contextlib.asynccontextmanager
async def tips_running(settings: Settings, clock: Clock, nats_url: str, namespace: str) -> AsyncIterator[Tips]:
    service = build(settings)
    service.clock = clock
    async with running(service) as http:
        yield Tips(service=service, http=http, settings=settings, clock=clock, nats_url=nats_url,
                   namespace=namespace)


def tips_settings(settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
                  **overrides: Any) -> Settings:
    base: dict[str, Any] = {"tips_database_url": database_url("tips"), "tips_scheduler_interval": 0.05,
                            "tips_submit_rate_per_minute": 10_000, "tips_follow_up_rate_per_minute": 10_000}
    base.update(overrides)
    return settings_factory(**base)
