"""Notify when receivers fail: retries, giving up, failover, signatures, and no reporter data anywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import time as systime
from collections.abc import Callable
from typing import Any

from services.notify.app import build
from shared.contracts.events import TipReceived
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import (
    Clock,
    HttpReceiver,
    Mail,
    Publisher,
    auth,
    deliveries,
    inbox,
    notify_events,
    prefs,
    tip,
)


async def test_webhook_receiver_that_fails_then_recovers_gets_a_verifiable_signature(
        notify_settings: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver, clock: Clock,
        nats_url: str, namespace: str) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        r = await http.post("/subscriptions", headers=auth(admin), json={
            "event_types": ["antq.tips.*"], "area_code": "79", "channel": "webhook", "target": f"{receiver.url}/hook"})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        assert secret and len(secret) >= 32
        listed = (await http.get("/subscriptions", headers=auth(admin))).json()["items"]
        assert "secret" not in listed[0]
        receiver.plan["/hook"] = [503, 503]
        event = await bus.publish(tip("T1", "79.26743", priority="urgent"))
        await bus.publish(tip("T-elsewhere", "01.00004", priority="urgent"))  # outside the subscription's area
        for attempt in (1, 2):
            async def settled(n: int = attempt) -> bool:
                rows = await deliveries(http, admin, channel="webhook")
                return len(receiver.to("/hook")) == n and [r["attempts"] for r in rows] == [n]

            await eventually(settled, what=f"webhook attempt {attempt} failed and rescheduled")
            clock.advance(hours=1)  # past the largest back-off of the webhook channel

        async def delivered() -> list[dict[str, Any]]:
            rows = await deliveries(http, admin, channel="webhook", status="delivered")
            return rows

        (row,) = await eventually(delivered, what="the webhook delivered")
        assert row["attempts"] == 3
        metrics = (await http.get("/metrics")).text
        assert 'antq_notify_retries_total{channel="webhook"} 2.0' in metrics
        expected = {"notification_id": row["notification_id"], "channel": "webhook", "cause_event_id": event.id}

        async def published() -> bool:
            return expected in await notify_events(nats_url, namespace, "NotificationDelivered")

        await eventually(published, what="NotificationDelivered of the webhook")

    # What a receiver does: HMAC-SHA256 over "<t>.<raw body>" with its secret, compared in constant time.
    last = receiver.to("/hook")[-1]
    header = last.headers["X-Antq-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    signature = hmac.new(secret.encode(), f"{parts['t']}.".encode() + last.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, parts["v1"])
    assert abs(systime.time() - int(parts["t"])) < 300
    forged = hmac.new(b"not-the-secret", f"{parts['t']}.".encode() + last.body, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(forged, parts["v1"])
    cloud_event = json.loads(last.body)
    assert cloud_event["id"] == event.id and cloud_event["type"] == TipReceived.TYPE
    assert cloud_event["data"]["tip_id"] == "T1"
    assert last.headers["X-Antq-Notification-Id"] == row["notification_id"]


async def test_receiver_that_never_recovers_ends_in_notification_failed_without_delaying_email(
        notify_settings: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver, mail: Mail,
        clock: Clock, nats_url: str, namespace: str) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        await prefs(http, officer, email="p79@police.example")
        r = await http.post("/subscriptions", headers=auth(admin), json={
            "event_types": ["antq.tips.TipReceived.v1"], "channel": "webhook", "target": f"{receiver.url}/dead"})
        assert r.status_code == 201, r.text
        receiver.plan["/dead"] = 503
        event = await bus.publish(tip("T1", "79.26743", priority="urgent"))

        async def first_failure_and_email() -> bool:
            return len(receiver.to("/dead")) >= 1 and len(mail.server.messages) == 1

        await eventually(first_failure_and_email, what="the email while the webhook fails")

        async def failed() -> list[dict[str, Any]]:
            rows = await deliveries(http, admin, channel="webhook", status="failed")
            if not rows:
                clock.advance(hours=1)
            return rows

        (row,) = await eventually(failed, timeout=30, interval=0.1, what="the webhook given up")
        assert row["attempts"] == 12 and "gave up after 12 attempts" in row["last_error"]
        failures = await eventually(lambda: notify_events(nats_url, namespace, "NotificationFailed"),
                                    what="NotificationFailed published")
        assert failures == [{"notification_id": row["notification_id"], "channel": "webhook",
                             "cause_event_id": event.id, "attempts": 12, "reason": row["last_error"]}]
        emails = await deliveries(http, admin, channel="email")
        assert [e["status"] for e in emails] == ["delivered"] and emails[0]["attempts"] == 1


async def test_sms_backup_gateway_takes_over_when_the_primary_is_down(
        notify_settings: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver, clock: Clock) -> None:
    from shared.testing import free_port

    notify = build(notify_settings(notify_sms_gateway_url=f"http://127.0.0.1:{free_port()}/sms",
                                   notify_sms_backup_gateway_url=f"{receiver.url}/sms-backup",
                                   notify_sms_failover_threshold=1))
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        admin = notify.tokens.issue(role="admin", sub="root")
        await prefs(http, officer, phone="+84900000001")
        r = await http.post("/subscriptions", headers=auth(officer), json={
            "event_types": ["antq.tips.TipReceived.v1"], "area_code": "79", "min_priority": "urgent",
            "channel": "sms"})
        assert r.status_code == 201, r.text
        await bus.publish(tip("T0", "79.26743"))  # normal: below the subscription's minimum priority
        await bus.publish(tip("T1", "79.26743", priority="urgent"))

        async def sms_sent() -> list[Any]:
            return receiver.to("/sms-backup")

        (sms,) = await eventually(sms_sent, what="an SMS through the backup gateway")
        assert b'"to":"+84900000001"' in sms.body.replace(b" ", b"") and "T1" in sms.body.decode()
        (row,) = await eventually(lambda: deliveries(http, admin, channel="sms", status="delivered"),
                                  what="the SMS delivery logged")
        assert row["provider"] == "sms-backup-gateway"


async def test_no_reporter_identity_ever_reaches_a_notification(
        notify_settings: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver, mail: Mail,
        clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    secrets_of_reporter = {"description": "Kẻ gian lấy trộm máy tính ở phòng kế toán",
                           "reporter": {"name": "Trần Thị Bích Ngọc", "phone": "0912345678",
                                        "email": "ngoc.tran@example.vn", "id_number": "079123456789"},
                           "reporter_ref": "pseudonym-123", "location": "Số 12 Nguyễn Huệ"}
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        admin = notify.tokens.issue(role="admin", sub="root")
        await prefs(http, officer, email="p79@police.example", phone="+84900000001")
        for channel, target in (("webhook", f"{receiver.url}/hook"), ("sms", None)):
            r = await http.post("/subscriptions", headers=auth(officer), json={
                "event_types": ["antq.tips.*"], "area_code": "79", "channel": channel, "target": target})
            assert r.status_code == 201, r.text
        await bus.publish(tip("T1", "79.26743", priority="urgent"), extra=secrets_of_reporter)

        async def all_out() -> bool:
            return bool(mail.server.messages and receiver.to("/hook") and receiver.to("/sms"))

        await eventually(all_out, what="email, webhook and SMS")
        seen = [str(await inbox(http, officer)), str(await deliveries(http, admin))]
        seen += [raw.decode("utf-8", "replace") for _, _, raw in mail.server.messages]
        seen += [m.as_string() for _, m, _ in mail.server.messages]
        seen += [r.body.decode() for r in receiver.requests]
        blob = "\n".join(seen)
        assert "T1" in blob
        for value in ["Kẻ gian", "kế toán", "Trần Thị", "0912345678", "ngoc.tran", "079123456789", "pseudonym-123",
                      "Nguyễn Huệ", "reporter_ref", "description"]:
            assert value not in blob, f"{value!r} reached a notification"
