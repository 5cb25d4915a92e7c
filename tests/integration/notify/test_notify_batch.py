"""Notify routes a batch of events with a few set-based statements; the result must be exactly what routing the
same events one at a time gives, including events that depend on earlier ones of the same batch (a tip triaged
to another area, an award approved for a unit registered a moment before). Real SQLite databases."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select

from services.notify import store
from services.notify.channels import ChannelAdapter, ChannelRegistry
from services.notify.context import NotifyContext
from services.notify.handlers import intake
from services.notify.keys import WebhookSecrets
from shared.bus.consumer import Delivery
from shared.contracts.events import (
    ActivityReported,
    AwardApproved,
    AwardGranted,
    AwardProposed,
    CertificationRevoked,
    EventData,
    TipReceived,
    TipTriaged,
    UnitCertified,
    UnitRegistered,
    UnitUpdated,
)
from shared.db import Database, outbox
from tests.integration import batch_support
from tests.integration.batch_support import fresh_database, interleave

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 16:00 in Hanoi: outside default quiet hours
CHANNELS = frozenset({"inbox", "email", "webhook", "sms"})


def story(rng: random.Random) -> list[EventData]:
    """Units registered, moved, certified; tips received then triaged elsewhere; awards proposed then decided."""
    events: list[EventData] = []
    for n in range(6):
        unit = f"u-{n}"
        events.append(UnitRegistered(unit_id=unit, name=f"Unit {n}", kind="school", area_code=f"79.2670{n % 3}",
                                     in_scope=True))
        if n % 2:
            events.append(UnitUpdated(unit_id=unit, changed={"area_code": "79.25747"}))
        events.append(UnitCertified(unit_id=unit, year=2026, rating="good", decision_no=f"QD-{n}",
                                    decided_at=NOW, decided_by_level="commune", consecutive_years=1 + n % 3))
        events.append(ActivityReported(activity_id=f"a-{n}", unit_id=unit, kind="training",
                                       held_on=date(2026, 11, 1), participants=30))
        award = f"aw-{n}"
        events.append(AwardProposed(award_id=award, award_type="certificate_of_merit", recipient_kind="unit",
                                    recipient_ref=unit, year=2026, basis=["UnitCertified"],
                                    level="province" if n % 2 else "commune"))
        events.append(AwardApproved(award_id=award, decision_no=f"QD-A{n}", approved_by_level="province"))
        if n % 3 == 0:
            events.append(AwardGranted(award_id=award, certificate_id=f"c-{n}"))
            events.append(CertificationRevoked(unit_id=unit, year=2026, reason="serious incident"))
    for n in range(8):
        tip = f"t-{n}"
        events.append(TipReceived(tip_id=tip, category="drugs" if n % 2 else "theft", channel="web",
                                  area_code=f"79.2670{n % 3}", anonymous=True,
                                  priority="urgent" if n % 4 == 0 else "normal", received_at=NOW))
        if n % 2:
            events.append(TipTriaged(tip_id=tip, category="drugs", priority="urgent", assigned_area="79.25750",
                                     due_at=NOW))
    # Keep each aggregate's events in order (as a stream would) but interleave the aggregates.
    by_aggregate: dict[str, list[EventData]] = {}
    for e in events:
        by_aggregate.setdefault(e.aggregate_id() or "", []).append(e)
    return interleave(list(by_aggregate.values()), rng)


def deliveries_of(events: list[EventData]) -> list[Delivery]:
    return batch_support.deliveries_of(events, source="antq/test", time=NOW)


async def seeded(path: Path) -> Database:
    db = await fresh_database(path, "notify")
    async with db.unit_of_work() as uow:
        s = uow.session
        await s.execute(insert(store.recipients), [
            {"recipient_id": "officer:p1", "kind": "officer", "role": "officer", "area_code": "79",
             "unit_id": None, "email": "p1@police.example", "phone": None,
             "preferences": json.dumps({"channels": ["inbox", "email"], "language": "en"}), "updated_at": NOW},
            {"recipient_id": "unit:u-1", "kind": "unit_contact", "role": None, "area_code": None, "unit_id": "u-1",
             "email": "u1@school.example", "phone": "+84900000001",
             "preferences": json.dumps({"language": "en"}), "updated_at": NOW},
        ])
        await s.execute(insert(store.subscriptions), [
            {"subscription_id": "s-1", "owner": "officer:p1", "event_types": json.dumps(["antq.tips.*"]),
             "area_code": "79", "unit_id": None, "min_priority": "urgent", "channel": "email", "target": None,
             "secret": None, "created_at": NOW},
            {"subscription_id": "s-2", "owner": "external:bi", "event_types": json.dumps(["antq.units.*"]),
             "area_code": None, "unit_id": None, "min_priority": None, "channel": "webhook",
             "target": "https://bi.example/hook", "secret": "x", "created_at": NOW},
        ])
    return db


async def snapshot(db: Database) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with db.read() as s:
        for table in (store.deliveries, store.cause_events, store.tip_directory, store.unit_directory,
                      store.award_directory):
            key = next(iter(table.primary_key.columns))
            out[table.name] = [dict(r) for r in (await s.execute(select(table).order_by(key))).mappings()]
        emitted = (await s.execute(select(outbox.c.event_type, outbox.c.payload))).all()
    out["emitted"] = sorted((t, json.loads(p)["data"]["notification_id"]) for t, p in emitted)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_routes_exactly_as_one_event_at_a_time(tmp_path: Path, seed: int) -> None:
    events = deliveries_of(story(random.Random(seed)))
    batch_db, one_db = await seeded(tmp_path / "batch.db"), await seeded(tmp_path / "one.db")
    ctx_batch, ctx_one = _ctx(batch_db), _ctx(one_db)
    try:
        for start in range(0, len(events), 25):  # batches of 25, so that some dependencies span two batches
            async with batch_db.unit_of_work() as uow:
                await intake(events[start:start + 25], uow, ctx_batch)
        for delivery in events:
            async with one_db.unit_of_work() as uow:
                await intake([delivery], uow, ctx_one)
        batched, single = await snapshot(batch_db), await snapshot(one_db)
    finally:
        await batch_db.dispose()
        await one_db.dispose()
    assert batched == single
    rows = batched["deliveries"]
    # The routing is not trivial: desks of moved units and triaged tips, the unit's contact, a subscriber.
    assert {r["recipient_id"] for r in rows} >= {"desk:79.25747", "desk:79.25750", "unit:u-1", "officer:p1",
                                                   "webhook:s-2"}
    # A moved unit's certificate is placed where it moved to, known only from the directory.
    assert any(r["event_type"] == UnitCertified.TYPE and r["unit_id"] == "u-1" and r["area_code"] == "79.25747"
               for r in rows)
    assert len(batched["emitted"]) == sum(1 for r in rows if r["channel"] == "inbox")
    assert {r["tip_id"]: r["area_code"] for r in batched["tip_directory"]}["t-1"] == "79.25750"


async def test_an_event_seen_in_an_earlier_batch_creates_nothing_new(tmp_path: Path) -> None:
    events = deliveries_of(story(random.Random(7)))
    db = await seeded(tmp_path / "n.db")
    ctx = _ctx(db)
    try:
        async with db.unit_of_work() as uow:
            created = await intake(events, uow, ctx)
        async with db.unit_of_work() as uow:
            again = await intake(events[::2], uow, ctx)
        assert created and again == []
        assert len((await snapshot(db))["deliveries"]) == len(created)
    finally:
        await db.dispose()


def _metrics() -> Any:
    from services.notify.metrics import NotifyMetrics

    return NotifyMetrics(CollectorRegistry())


def _channel(name: str) -> ChannelAdapter:
    channel = ChannelAdapter()
    channel.name = name
    return channel


def _ctx(db: Database) -> NotifyContext:
    """Every channel configured; intake sends nothing, so the channels are names only."""
    return NotifyContext(db=db, clock=lambda: NOW, metrics=_metrics(),
                         channels=ChannelRegistry([_channel(name) for name in sorted(CHANNELS)]),
                         secrets=WebhookSecrets([base64.b64encode(bytes(32)).decode()]))


def test_story_is_deterministic() -> None:
    a = [e.model_dump() for e in story(random.Random(5))]
    b = [e.model_dump() for e in story(random.Random(5))]
    assert a == b and len({str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(x, default=str))) for x in a}) == len(a)


async def test_inbox_text_rendered_when_read_is_the_notice_of_its_event(tmp_path: Path) -> None:
    """Inbox notices are rendered when the inbox is read, from the stored cause event and in the row's language:
    the text must be what rendering the event as it arrived gives, with the names notify's directory holds."""
    from services.notify.handlers import inbox_texts, names_for

    events = deliveries_of(story(random.Random(4)))
    by_id = {d.event_id: d for d in events}
    db = await seeded(tmp_path / "n.db")
    ctx = _ctx(db)
    try:
        async with db.unit_of_work() as uow:
            await intake(events, uow, ctx)
        async with db.read() as session:
            rows = (await session.execute(select(store.deliveries).where(
                store.deliveries.c.channel == "inbox"))).mappings().all()
            texts = await inbox_texts(ctx, session, rows)
            names = await names_for(session, [d.data.model_dump(mode="json", exclude_none=True) for d in events])
    finally:
        await db.dispose()
    assert {r["language"] for r in rows} == {"vi", "en"} and len(rows) > 20
    for row in rows:
        d = by_id[row["cause_event_id"]]
        envelope = {"specversion": "1.0", "id": d.event_id, "source": d.envelope.source, "type": d.event_type,
                    "time": d.envelope.time.isoformat(), "data": d.data.model_dump(mode="json", exclude_none=True)}
        expected = ctx.templates.render(d.event_type, "inbox", row["language"], envelope, names)
        assert texts[row["notification_id"]] == (expected.subject, expected.text, expected.link)
        assert texts[row["notification_id"]][0]


async def test_routing_a_batch_builds_each_unit_contact_once_and_validates_no_routing_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-event values of routing (the directory it looks up, the delivery intents) are plain values built
    from checked ones, and a unit's contact recipient is built once per batch, not once per event about the unit:
    routing a batch validates no model per event other than the `NotificationDelivered` events it emits."""
    from pydantic import BaseModel

    def unit_events(first: int) -> list[EventData]:
        events: list[EventData] = []
        for n in range(first, first + 10):
            events.append(UnitRegistered(unit_id=f"v-{n}", name=f"Unit {n}", kind="school",
                                         area_code=f"79.2670{n % 3}", in_scope=True))
            events.append(UnitCertified(unit_id=f"v-{n}", year=2026, rating="good", decision_no=f"QD-{n}",
                                        decided_at=NOW, decided_by_level="commune", consecutive_years=1))
            events.append(UnitCertified(unit_id=f"v-{n}", year=2025, rating="good", decision_no=f"QD-{n}b",
                                        decided_at=NOW, decided_by_level="commune", consecutive_years=1))
        return events

    db = await seeded(tmp_path / "n.db")
    ctx = _ctx(db)
    built: Counter[str] = Counter()
    init = BaseModel.__init__

    def counting(self: BaseModel, /, **data: Any) -> None:
        built[type(self).__name__] += 1
        init(self, **data)

    try:
        async with db.unit_of_work() as uow:  # the same areas once before: their desks are built and kept
            await intake(deliveries_of(unit_events(0)), uow, ctx)
        batch = deliveries_of(unit_events(10))
        monkeypatch.setattr(BaseModel, "__init__", counting)
        async with db.unit_of_work() as uow:
            created = await intake(batch, uow, ctx)
            emitted = len(uow.events)
        monkeypatch.undo()
    finally:
        await db.dispose()
    assert created and emitted
    # Read once per batch: the officer and the two subscriptions notify knows. Then ten units without a contact
    # row, three events each: ten contact recipients, not thirty; the webhook subscriber's recipient is kept.
    assert built == Counter({"Recipient": 1 + 10, "Subscription": 2, "NotificationDelivered": emitted,
                             "CloudEvent": emitted})
