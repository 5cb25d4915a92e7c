"""The awards-tips consumer handles a batch of tip events with a few set-based statements; the result must be
exactly what handling them one at a time gives: the tips (area, verification), reward proposals (once per
valuable tip, with their area learnt late when the verification came first), the audit trail and the events.
Real SQLite databases."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.awards import store
from services.awards.handlers import on_tip_events, on_unit_events
from shared import audit
from shared.bus.consumer import Delivery
from shared.contracts.events import EventData, TipReceived, TipTriaged, TipVerified, UnitRegistered
from shared.db import Database, outbox
from tests.integration import batch_support
from tests.integration.batch_support import batched_and_single, fresh_database, interleave

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
UNIT_AREAS = {"u-1": "79.25760", "u-2": "48.20195"}


def story(rng: random.Random) -> list[EventData]:
    """Tips in several provinces, each as its own lane (a stream keeps one tip's events in order): received,
    triaged (sometimes without an area), verified valuable or not, with a reward reference or not; some verified
    before they were received (the reward learns its area later), some verified twice (only the first counts),
    some known only by their unit, and two tips of one reporter (one reward reference)."""
    lanes: list[list[EventData]] = []
    for n in range(16):
        tip = f"t-{n}"
        area = None if n % 5 == 3 else ("79.25760" if n % 3 else "48.20195")
        unit = "u-1" if n % 5 == 3 and n % 2 else ("u-2" if n % 5 == 3 else None)
        valuable = n % 3 != 2
        ref = None if n % 7 == 6 else ("rw-shared" if n in (4, 10) else f"rw-{n}")
        outcome = "prosecuted" if valuable else "unfounded"
        received = TipReceived(tip_id=tip, category="theft", channel="web", area_code=area, unit_id=unit,
                               anonymous=True, priority="normal", received_at=NOW)
        triaged = TipTriaged(tip_id=tip, category="theft", priority="normal",
                             assigned_area=None if n % 4 == 1 else (area or "79.25768"), due_at=NOW)
        verified = TipVerified(tip_id=tip, valuable=valuable, outcome=outcome, reward_ref=ref,
                               unit_id="u-1" if n % 6 == 5 else None)
        lane: list[EventData] = ([verified, received, triaged] if n % 4 == 0 else [received, triaged, verified])
        if n % 5 == 1:
            lane.append(TipVerified(tip_id=tip, valuable=not valuable, outcome="suspended", reward_ref=f"rw-again-{n}"))
        lanes.append(lane)
    return interleave(lanes, rng)


async def fresh(path: Path) -> Database:
    db = await fresh_database(path, "awards")
    units = [UnitRegistered(unit_id=u, name=u, kind="enterprise", area_code=a, in_scope=True)
             for u, a in UNIT_AREAS.items()]
    async with db.unit_of_work() as uow:
        await on_unit_events(batch_support.deliveries_of(units, source="antq/units", time=NOW), uow, now=NOW)
    return db


def deliveries_of(events: list[EventData]) -> list[Delivery]:
    return batch_support.deliveries_of(events, source="antq/tips", time=NOW)


async def snapshot(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        tips = [dict(r) for r in (await s.execute(select(store.tips).order_by(store.tips.c.tip_id))).mappings()]
        awards = [{k: v for k, v in dict(r).items() if k not in ("seq", "award_id")} for r in (await s.execute(
            select(store.awards).order_by(store.awards.c.key))).mappings()]
        actions = sorted((r.action, r.reason or "") for r in await s.execute(
            select(store.audit_log.c.action, store.audit_log.c.reason)))
        events = sorted((t, json.loads(p)["data"].get("recipient_ref", ""))
                        for t, p in await s.execute(select(outbox.c.event_type, outbox.c.payload)))
    return {"tips": tips, "awards": awards, "audit": actions, "events": events}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_of_tip_events_has_exactly_the_effect_of_one_at_a_time(tmp_path: Path, seed: int) -> None:
    events = deliveries_of(story(random.Random(seed)))
    async with batched_and_single(tmp_path, fresh, lambda d, uow: on_tip_events(d, uow, now=NOW), events,
                                  9) as (batched, single):
        a, b = await snapshot(batched), await snapshot(single)
        async with batched.read() as session:
            chain = await audit.verify_chain(session, store.audit_log)
    assert a == b
    assert chain.ok and chain.entries == len(a["audit"])
    assert len(a["tips"]) == 16
    rewards = [x for x in a["awards"] if x["recipient_kind"] == "reporter"]
    # Valuable tips with a reward reference owe one reward each (the two of one reporter share a reference).
    assert rewards and len({x["recipient_ref"] for x in rewards}) == len(rewards)
    assert not any(x["recipient_ref"].startswith("rw-again") for x in rewards)  # a second verification is not
    # A reward proposed before its tip's area was known learnt it when the tip was received or triaged.
    assert all(x["area_code"] for x in rewards)
    tips = {t["tip_id"]: t for t in a["tips"]}
    assert tips["t-3"]["area_code"] is None and tips["t-3"]["unit_id"] == "u-1"
    assert tips["t-0"]["received"] and tips["t-0"]["verified_event_id"]


async def test_a_batch_that_verifies_and_receives_a_tip_proposes_its_reward_with_the_area(tmp_path: Path) -> None:
    db = await fresh(tmp_path / "awards.db")
    events = deliveries_of([
        TipVerified(tip_id="t-x", valuable=True, outcome="prosecuted", reward_ref="rw-x"),
        TipReceived(tip_id="t-x", category="drugs", channel="web", area_code="79.25771", anonymous=True,
                    priority="urgent", received_at=NOW)])
    try:
        async with db.unit_of_work() as uow:
            created = await on_tip_events(events, uow, now=NOW)
        snap = await snapshot(db)
    finally:
        await db.dispose()
    assert [a.recipient_ref for a in created] == ["rw-x"]
    [reward] = [x for x in snap["awards"] if x["recipient_kind"] == "reporter"]
    assert reward["area_code"] == "79.25771" and reward["province_code"] == "79"
    assert snap["events"] == [("antq.awards.AwardProposed.v1", "rw-x")]
