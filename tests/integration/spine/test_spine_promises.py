"""The spine's promises against a real nats-server: no loss across a crash, one effect per event, poison to DLQ."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import nats
import pytest
from sqlalchemy import insert, select, update

from services.notify.app import build as build_notify
from services.tips.app import build as build_tips
from shared.bus.consumer import Delivery, Reject
from shared.bus.relay import OutboxRelay, one_by_one
from shared.bus.streams import DurableSpec, Namespace, ensure_streams, reconcile_consumer
from shared.contracts import new_event
from shared.contracts.events import TipReceived
from shared.db import Database, UnitOfWork, outbox, processed_events, utcnow
from shared.migrations import migrate
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.spine.helpers import publish_raw, stream_messages


def tip_event(area: str = "79", tip_id: str | None = None) -> TipReceived:
    return TipReceived(tip_id=tip_id or str(uuid.uuid4()), category="theft", channel="web", area_code=area,
                       anonymous=True, priority="normal", received_at=datetime.now(UTC))


async def _js_publish(nats_url: str):  # type: ignore[no-untyped-def]
    nc = await nats.connect(nats_url)
    js = nc.jetstream()

    async def publish(subject: str, payload: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        return await js.publish(subject, payload, headers=headers, timeout=5)

    return nc, publish


async def test_crash_between_commit_and_publish_loses_nothing(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str,
        nats_url: str) -> None:
    settings = settings_factory(tips_database_url=database_url("tips"))
    await migrate(settings.database_url_for("tips"), "tips")
    ns = Namespace(namespace)
    nc = await nats.connect(nats_url)
    await ensure_streams(nc.jetstream(), settings)
    await nc.close()

    # The "process" commits the tip's event and dies before its relay runs.
    db = Database(settings.database_url_for("tips"), source="antq/tips")
    async with db.unit_of_work() as uow:
        envelope = uow.emit(tip_event())
    await db.dispose()
    assert await stream_messages(nats_url, ns.stream("TIPS")) == []

    # After the restart, a relay publishes it; a second crash after publishing but before marking it sent
    # makes the next relay publish it again, and JetStream drops that copy by its Nats-Msg-Id.
    for _ in range(2):
        db = Database(settings.database_url_for("tips"), source="antq/tips")
        nc, publish = await _js_publish(nats_url)
        relay = OutboxRelay(db, one_by_one(publish), namespace=ns, metrics=None)
        async with db.unit_of_work() as uow:  # the crash left the row unmarked
            await uow.session.execute(update(outbox).values(state="pending"))
        assert await relay.publish_pending() == 1
        await nc.close()
        await db.dispose()

    messages = await stream_messages(nats_url, ns.stream("TIPS"))
    assert [m["headers"]["Nats-Msg-Id"] for m in messages] == [envelope.id]
    assert messages[0]["body"]["id"] == envelope.id


async def test_duplicated_and_redelivered_event_produces_one_effect(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str,
        nats_url: str) -> None:
    settings = settings_factory(notify_database_url=database_url("notify"))
    notify = build_notify(settings)
    officer = notify.tokens.issue(role="officer", area="79")
    envelope = new_event(tip_event(), source="antq/tips")
    subject = f"{namespace}.{envelope.type}"
    async with running(notify) as http:
        # The same event id published under three different message ids: JetStream cannot de-duplicate them,
        # so it is the processed_events table that must.
        for n in range(3):
            await publish_raw(nats_url, subject, envelope.to_bytes(), msg_id=f"{envelope.id}-copy{n}")
        await publish_raw(nats_url, subject, new_event(tip_event(), source="antq/tips").to_bytes())

        async def two_items() -> list[dict]:
            r = await http.get("/inbox", headers={"Authorization": f"Bearer {officer}"})
            items = r.json()["items"]
            return items if len(items) >= 2 else []

        items = await eventually(two_items, what="two notifications")
        runner = notify.runners["notify-tips"]

        async def all_settled() -> bool:
            info = await notify.js().consumer_info(f"{namespace}_TIPS", "notify-tips")
            return info.num_ack_pending == 0 and info.num_pending == 0

        await eventually(all_settled, what="consumer drained")
        r = await http.get("/inbox", headers={"Authorization": f"Bearer {officer}"})
        assert len(r.json()["items"]) == 2
        assert sorted(i["cause_event_id"] for i in items).count(envelope.id) == 1
        assert runner.metrics is not None
        dupes = runner.metrics.consumer_messages.labels("notify", "notify-tips", "duplicate")._value.get()
        assert dupes == 2


async def test_poison_messages_go_to_dlq_with_reason_and_consumer_keeps_going(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str,
        nats_url: str) -> None:
    settings = settings_factory(notify_database_url=database_url("notify"), tips_database_url=database_url("tips"))
    notify, tips = build_notify(settings), build_tips(settings)
    officer = notify.tokens.issue(role="officer")
    tip_subject = f"{namespace}.{TipReceived.TYPE}"
    async with running(notify) as http, running(tips):
        await publish_raw(nats_url, tip_subject, b"\xff\xfe not json")
        bad = new_event(tip_event(), source="antq/tips").model_dump(mode="json")
        bad["data"]["priority"] = "whenever"
        await publish_raw(nats_url, tip_subject, json.dumps(bad).encode())
        no_time = new_event(tip_event(), source="antq/tips").model_dump(mode="json")
        del no_time["time"]
        await publish_raw(nats_url, tip_subject, json.dumps(no_time).encode())
        # An inbound tip whose envelope claims another agency's source is quarantined by the tips service.
        spoof = new_event(tip_event(), source="agency/someone-else").model_dump(mode="json")
        spoof["type"] = "TipSubmitted.v1"
        spoof["data"] = {"category": "theft", "description": "x", "reference": "r-1", "anonymous": True}
        await publish_raw(nats_url, f"{namespace}.antq.inbound.mia-app.TipSubmitted.v1", json.dumps(spoof).encode())
        good = new_event(tip_event(), source="antq/tips")
        await publish_raw(nats_url, tip_subject, good.to_bytes())

        async def delivered() -> list[dict]:
            r = await http.get("/inbox", headers={"Authorization": f"Bearer {officer}"})
            return r.json()["items"]

        items = await eventually(delivered, what="good event processed after poison")
        assert items[0]["cause_event_id"] == good.id

        async def dlq() -> list[dict]:
            msgs = await stream_messages(nats_url, f"{namespace}_DLQ")
            return msgs if len(msgs) >= 4 else []

        dead = await eventually(dlq, what="4 DLQ messages")
        by_service = {m["subject"] for m in dead}
        assert f"{namespace}.antq.dlq.notify.{TipReceived.TYPE}" in by_service
        assert f"{namespace}.antq.dlq.tips.antq.inbound.mia-app.TipSubmitted.v1" in by_service
        reasons = " | ".join(m["headers"]["Antq-Dlq-Reason"] for m in dead)
        assert "not JSON" in reasons and "priority" in reasons and "time" in reasons and "does not match" in reasons
        assert any(m["data"] == b"\xff\xfe not json" for m in dead), "the original bytes are kept"
        ok, checks = await notify.readiness()
        assert ok, checks


async def test_handler_that_keeps_failing_ends_in_dlq_after_delivery_limit(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str,
        nats_url: str) -> None:
    settings = settings_factory(notify_database_url=database_url("notify"), consumer_max_deliver=3)
    service = Service("notify", settings, title="failing")
    seen: list[int] = []

    @service.consumer("flaky", stream="TIPS", subject="antq.tips.>", types={TipReceived.TYPE})
    async def always_fails(delivery: Delivery, uow: UnitOfWork) -> None:
        seen.append(delivery.num_delivered)
        if delivery.envelope.subject == "reject-me":
            raise Reject("unknown unit u-404")
        raise RuntimeError("downstream rule crashed")

    async with running(service):
        env = new_event(tip_event(), source="antq/tips")
        await publish_raw(nats_url, f"{namespace}.{env.type}", env.to_bytes())
        rejected = new_event(tip_event(), source="antq/tips", subject="reject-me")
        await publish_raw(nats_url, f"{namespace}.{rejected.type}", rejected.to_bytes())

        async def dlq() -> list[dict]:
            msgs = await stream_messages(nats_url, f"{namespace}_DLQ")
            return msgs if len(msgs) >= 2 else []

        dead = await eventually(dlq, timeout=15, what="both messages in the DLQ")
        kinds = {m["headers"]["Antq-Dlq-Kind"]: m["headers"]["Antq-Dlq-Reason"] for m in dead}
        assert "gave up after 3 deliveries" in kinds["exhausted"]
        assert "downstream rule crashed" in kinds["exhausted"]
        assert kinds["rejected"] == "unknown unit u-404"
        # A failing batch is run once without savepoints, rolled back, then again with one per message: the
        # failing message is tried at delivery 1, 2 and 3 (each delivery may call the handler twice).
        assert sorted(set(seen)) == [1, 2, 3]


async def test_a_failing_message_in_a_batch_leaves_the_others_with_one_effect_each(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str,
        nats_url: str) -> None:
    """The batch is first run without savepoints; a handler that raises makes it roll back and run again with a
    savepoint per message. The others' effects are then in the database once each, the failing one's not at all."""
    settings = settings_factory(notify_database_url=database_url("notify"), consumer_max_deliver=2)
    service = Service("notify", settings, title="one bad apple")
    calls: dict[str, int] = {}
    good = [tip_event() for _ in range(20)]
    bad = tip_event(tip_id="bad-" + str(uuid.uuid4()))

    @service.consumer("echo", stream="TIPS", subject="antq.tips.>", types={TipReceived.TYPE})
    async def echo(delivery: Delivery, uow: UnitOfWork) -> None:
        data = delivery.data
        assert isinstance(data, TipReceived)
        calls[data.tip_id] = calls.get(data.tip_id, 0) + 1
        if data.tip_id.startswith("bad-"):
            raise RuntimeError("this one cannot be handled")
        # An effect with a unique key (the processed_events table under another name): a second write would fail.
        await uow.session.execute(insert(processed_events).values(consumer="echo-effect",
                                                                  event_id=delivery.event_id, processed_at=utcnow()))

    envelopes = [new_event(t, source="antq/tips") for t in [*good[:10], bad, *good[10:]]]
    nc = await nats.connect(nats_url)
    try:
        await ensure_streams(nc.jetstream(), settings)
    finally:
        await nc.close()
    for env in envelopes:  # all waiting before the consumer starts, so they come in one batch
        await publish_raw(nats_url, f"{namespace}.{env.type}", env.to_bytes())
    async with running(service):
        dead = await eventually(lambda: stream_messages(nats_url, f"{namespace}_DLQ"), timeout=15,
                                what="the bad message in the DLQ")
        assert [m["headers"]["Antq-Dlq-Kind"] for m in dead] == ["exhausted"]
        async with service.db.read() as session:
            echoed = sorted((await session.execute(
                select(processed_events.c.event_id).where(processed_events.c.consumer == "echo-effect"))).scalars())
    assert echoed == sorted(e.id for e in envelopes if e.data["tip_id"] != bad.tip_id)
    # The good ones were handled in the first batch: once without savepoints (rolled back), once with.
    assert all(calls[t.tip_id] <= 2 for t in good)
    assert calls[bad.tip_id] >= 2


async def test_consumer_settings_on_the_server_follow_the_code(
        settings_factory: Callable[..., Settings], namespace: str, nats_url: str) -> None:
    settings = settings_factory()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    stream = f"{namespace}_TIPS"
    old = DurableSpec(stream=stream, durable="notify-tips", filter_subject=f"{namespace}.antq.tips.>", ack_wait=5)
    assert await reconcile_consumer(js, old) == "created"
    new = DurableSpec(stream=stream, durable="notify-tips", filter_subject=f"{namespace}.antq.tips.>", ack_wait=42)
    assert await reconcile_consumer(js, new) in ("updated", "recreated")
    info = await js.consumer_info(stream, "notify-tips")
    assert info.config.ack_wait == 42
    assert await reconcile_consumer(js, new) == "unchanged"
    await nc.close()


async def test_readyz_is_503_with_reason_while_nats_is_unreachable(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    from shared.testing import free_port

    settings = settings_factory(notify_database_url=database_url("notify"),
                                nats_url=f"nats://127.0.0.1:{free_port()}")
    notify = build_notify(settings)
    import httpx

    await notify.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notify.app), base_url="http://t") as http:
            r = await http.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["nats"].startswith("not connected")
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await notify.stop()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_outbox_rows_show_state_and_attempts_when_publishing_fails(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str) -> None:
    settings = settings_factory(tips_database_url=database_url("tips"))
    await migrate(settings.database_url_for("tips"), "tips")
    db = Database(settings.database_url_for("tips"), source="antq/tips")

    async def broken(subject: str, payload: bytes, headers: dict[str, str]) -> None:
        raise ConnectionError("nats unreachable")

    relay = OutboxRelay(db, one_by_one(broken), namespace=Namespace(namespace), metrics=None)
    async with db.unit_of_work() as uow:
        uow.emit(tip_event())
    with pytest.raises(RuntimeError):
        await relay.publish_pending()
    async with db.read() as session:
        row = (await session.execute(select(outbox))).mappings().one()
    assert row["state"] == "pending" and row["attempts"] == 1 and "nats unreachable" in row["last_error"]
    await db.dispose()
