"""The awards-units consumer handles a batch of unit events with a few set-based statements; the result must be
exactly what handling them one at a time gives: units, recognitions, proposed awards (with quotas), annulments
on revocation, the audit trail and the events. Real SQLite databases."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.awards import store
from services.awards.handlers import on_unit_events
from shared import audit
from shared.bus.consumer import Delivery
from shared.contracts.events import (
    CertificationRevoked,
    EventData,
    UnitCertified,
    UnitRegistered,
    UnitUpdated,
)
from shared.db import Database, outbox
from tests.integration import batch_support
from tests.integration.batch_support import batched_and_single, fresh_database, interleave

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def story(rng: random.Random) -> list[EventData]:
    """Units recognised several years running (so collective awards are owed), one registered only after its
    recognitions arrived, one moved, one whose recognition is revoked, interleaved across units."""
    lanes: list[list[EventData]] = []
    for n in range(12):
        unit = f"u-{n}"
        area = f"79.2670{n % 3}" if n % 4 else f"48.2000{n % 2}"
        certified = [UnitCertified(unit_id=unit, year=year, rating="good" if n % 2 else "excellent",
                                   decision_no=f"QD-{n}-{year}", decided_at=NOW,
                                   decided_by_level="commune" if n % 3 else "province",
                                   consecutive_years=year - 2021)
                     for year in range(2022, 2027) if (n + year) % 5]
        registered = UnitRegistered(unit_id=unit, name=f"Unit {n}", kind="enterprise", area_code=area,
                                    in_scope=True)
        lane: list[EventData] = [*certified, registered] if n == 5 else [registered, *certified]
        if n % 4 == 1:
            lane.insert(1, UnitUpdated(unit_id=unit, changed={"area_code": "79.25747", "name": f"Unit {n} (moved)"}))
        if n % 5 == 2:
            lane.append(CertificationRevoked(unit_id=unit, year=2025, reason="serious incident"))
        lanes.append(lane)
    return interleave(lanes, rng)


def deliveries_of(events: list[EventData]) -> list[Delivery]:
    return batch_support.deliveries_of(events, source="antq/units", time=NOW)


async def fresh(path: Path) -> Database:
    return await fresh_database(path, "awards")


async def snapshot(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        units = [dict(r) for r in (await s.execute(select(store.units).order_by(store.units.c.unit_id))).mappings()]
        certs = [dict(r) for r in (await s.execute(select(store.unit_certifications).order_by(
            store.unit_certifications.c.unit_id, store.unit_certifications.c.year))).mappings()]
        awards = [{k: v for k, v in dict(r).items() if k not in ("seq", "award_id")} for r in (await s.execute(
            select(store.awards).order_by(store.awards.c.key))).mappings()]
        actions = sorted((r.action, r.reason or "") for r in await s.execute(
            select(store.audit_log.c.action, store.audit_log.c.reason)))
        events = sorted((t, json.loads(p)["data"].get("award_type", ""), json.loads(p)["data"].get("recipient_ref",
                         "")) for t, p in await s.execute(select(outbox.c.event_type, outbox.c.payload)))
    return {"units": units, "certs": certs, "awards": awards, "audit": actions, "events": events}


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_batch_of_unit_events_has_exactly_the_effect_of_one_at_a_time(tmp_path: Path, seed: int) -> None:
    events = deliveries_of(story(random.Random(seed)))
    async with batched_and_single(tmp_path, fresh, lambda d, uow: on_unit_events(d, uow, now=NOW), events,
                                  10) as (batched, single):
        a, b = await snapshot(batched), await snapshot(single)
        async with batched.read() as session:
            chain = await audit.verify_chain(session, store.audit_log)
    assert a == b
    assert chain.ok and chain.entries == len(a["audit"])  # the entries appended together still form one chain
    assert len(a["units"]) == 12 and len(a["certs"]) >= 40
    assert len(a["awards"]) >= 5  # collective awards owed by consecutive recognitions were proposed
    assert any(x["status"] in ("annulled", "rejected") for x in a["awards"])  # and withdrawn on a revocation
    assert {u["unit_id"]: u["area_code"] for u in a["units"]}["u-1"] == "79.25747"
