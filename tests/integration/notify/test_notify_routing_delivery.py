"""Notify end to end on one service: events in from NATS, deliveries out to a real SMTP server and HTTP receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time as systime
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from services.notify.app import build
from shared.contracts.events import (
    CertificationRevoked,
    TipDeadlineApproaching,
    TipReceived,
    UnitRegistered,
)
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Clock, HttpReceiver, Mail, Publisher, notify_events


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tip(tip_id: str, area: str | None, *, priority: str = "normal", at: datetime | None = None) -> TipReceived:
    return TipReceived(tip_id=tip_id, category="theft", channel="web", area_code=area, anonymous=True,
                       priority=priority, received_at=at or datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # type: ignore[arg-type]


async def inbox(http: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    r = await http.get("/inbox", headers=auth(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def deliveries(http: httpx.AsyncClient, admin: str, **params: Any) -> list[dict[str, Any]]:
    r = await http.get("/deliveries", headers=auth(admin), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def prefs(http: httpx.AsyncClient, token: str, **body: Any) -> dict[str, Any]:
    r = await http.put("/preferences", headers=auth(token), json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_routing_by_area_and_role_reaches_inboxes_and_email(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        province = notify.tokens.issue(role="officer", area="79", sub="p79")
        commune = notify.tokens.issue(role="officer", area="79.26734", sub="c26734")
        other = notify.tokens.issue(role="officer", area="01", sub="p01")
        admin = notify.tokens.issue(role="admin", sub="root")
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1-staff")
        for token, email in ((province, "p79@police.example"), (commune, "c@police.example"),
                             (other, "p01@police.example"), (admin, "root@police.example"),
                             (unit, "security@u1.example")):
            await prefs(http, token, email=email)

        await bus.publish(tip("T-urgent", "79.26734", priority="urgent"))
        await bus.publish(tip("T-normal", "79.26737"))
        await bus.publish(UnitRegistered(unit_id="U1", name="Công ty A", kind="enterprise", area_code="79.26734",
                                         in_scope=True))
        revoked = await bus.publish(CertificationRevoked(unit_id="U1", year=2026, reason="illegal strike"))

        async def province_sees_all() -> list[dict[str, Any]]:
            items = await inbox(http, province)
            return items if len(items) == 3 else []

        items = await eventually(province_sees_all, what="three notices in the province inbox")
        assert {i["event_type"] for i in items} == {TipReceived.TYPE, CertificationRevoked.TYPE}
        assert any("T-urgent" in i["body"] and i["critical"] for i in items)
        commune_items = await inbox(http, commune)
        assert {i["cause_event_id"] for i in commune_items} == {i["cause_event_id"] for i in items
                                                               if "T-normal" not in i["body"]}
        assert await inbox(http, other) == []
        assert len(await inbox(http, admin)) == 3
        unit_items = await inbox(http, unit)
        assert [i["cause_event_id"] for i in unit_items] == [revoked.id]

        # Email: the urgent tip and the revocation go to every officer covering the area, never to province 01.
        def mailed(address: str) -> list[str]:
            return sorted(str(m["Subject"]) for m in mail.server.to(address))

        async def all_mail_sent() -> bool:
            return len(mail.server.messages) == 7

        await eventually(all_mail_sent, what="seven emails")
        for address in ("p79@police.example", "c@police.example", "root@police.example"):
            subjects = mailed(address)
            assert len(subjects) == 2 and any("T-urgent" in s for s in subjects), (address, subjects)
        assert len(mailed("security@u1.example")) == 1
        assert mailed("p01@police.example") == []
        assert not any("T-normal" in str(m["Subject"]) for _, m, _ in mail.server.messages)

        # Read state is per reader: the province officer reading a shared notice leaves it unread for the commune.
        first = next(i for i in commune_items if i["event_type"] == TipReceived.TYPE)
        r = await http.post(f"/inbox/{first['notification_id']}/read", headers=auth(province))
        assert r.status_code == 204
        assert first["notification_id"] not in {i["notification_id"] for i in await inbox(http, province,
                                                                                          unread="true")}
        assert first["notification_id"] in {i["notification_id"] for i in await inbox(http, commune, unread="true")}
        r = await http.post(f"/inbox/{first['notification_id']}/read", headers=auth(other))
        assert r.status_code == 404

        metrics = (await http.get("/metrics")).text
        assert 'antq_notify_deliveries_total{channel="email",status="delivered"} 7.0' in metrics
        assert 'antq_notify_delivery_latency_seconds_count{channel="email"} 7.0' in metrics
        assert 'antq_notify_queue_depth{channel="email"}' in metrics


async def test_duplicate_event_produces_one_delivery_per_recipient_and_channel(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock, nats_url: str,
        namespace: str) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        admin = notify.tokens.issue(role="admin", sub="root")
        await prefs(http, officer, email="p79@police.example")
        event = await bus.publish(tip("T1", "79.26734", priority="urgent"))
        await bus.republish(event)
        await bus.publish(tip("T2", "79.26734", priority="urgent"))  # after the duplicate: a sync point

        async def both_mailed() -> bool:
            return len(mail.server.messages) == 2

        await eventually(both_mailed, what="two emails")
        rows = await deliveries(http, admin)
        per_cause = {(r["cause_event_id"], r["recipient_id"], r["channel"]) for r in rows}
        assert len(per_cause) == len(rows) == 4  # (T1, T2) x (desk inbox, officer email)
        assert len(await inbox(http, officer)) == 2
        async def published() -> list[str]:
            delivered = await notify_events(nats_url, namespace, "NotificationDelivered")
            return sorted(d["notification_id"] for d in delivered) if len(delivered) >= 4 else []

        assert await eventually(published, what="four NotificationDelivered") == sorted(
            r["notification_id"] for r in rows)


async def test_quiet_hours_hold_email_but_critical_events_bypass_them(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    notify = build(notify_settings())
    clock.now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 23:00 in Vietnam
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        admin = notify.tokens.issue(role="admin", sub="root")
        await prefs(http, officer, email="p79@police.example", quiet_hours={"start": "22:00", "end": "06:00"})
        await bus.publish(tip("T1", "79.26734"))
        await bus.publish(TipDeadlineApproaching(tip_id="T1", deadline="forward_24h",
                                                 due_at=datetime(2026, 11, 24, 3, 0, tzinfo=UTC)))
        await bus.publish(tip("T2", "79.26734", priority="urgent"))

        async def urgent_mailed() -> bool:
            return len(mail.server.messages) == 1

        await eventually(urgent_mailed, what="the urgent tip's email at night")
        assert "T2" in str(mail.server.messages[0][1]["Subject"])
        held = [r for r in await deliveries(http, admin, channel="email") if r["status"] == "pending"]
        assert len(held) == 1 and held[0]["event_type"] == TipDeadlineApproaching.TYPE
        assert held[0]["next_attempt_at"].startswith("2026-11-23T23:00:00")  # 06:00 in Vietnam

        clock.now = datetime(2026, 11, 23, 23, 1, tzinfo=UTC)

        async def morning_mail() -> bool:
            return len(mail.server.messages) == 2

        await eventually(morning_mail, what="the held email after quiet hours")


async def test_daily_digest_goes_out_once_even_across_a_restart(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    settings = notify_settings()
    notify = build(settings)
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        admin = notify.tokens.issue(role="admin", sub="root")
        await prefs(http, officer, email="p79@police.example", mode="digest", language="en")
        await bus.publish(tip("T1", "79.26734"))
        for deadline in ("forward_24h", "decide_20d"):
            await bus.publish(TipDeadlineApproaching(tip_id="T1", deadline=deadline,  # type: ignore[arg-type]
                                                     due_at=datetime(2026, 11, 24, 3, 0, tzinfo=UTC)))
        await bus.publish(tip("T2", "79.26734", priority="urgent"))  # critical: bypasses the digest

        async def urgent_mailed() -> bool:
            return len(mail.server.messages) == 1

        await eventually(urgent_mailed, what="the urgent email despite digest mode")

        async def parked() -> list[dict[str, Any]]:
            rows = await deliveries(http, admin, status="digest")
            return rows if len(rows) == 2 else []

        await eventually(parked, what="two deliveries parked for the digest")
        clock.now = datetime(2026, 11, 24, 0, 1, tzinfo=UTC)  # 07:01 the next morning in Vietnam

        async def digest_mailed() -> bool:
            return len(mail.server.messages) == 2

        await eventually(digest_mailed, what="the digest")
        digest = mail.server.messages[1][1]
        assert str(digest["Subject"]) == "ANTQ: 2 notifications of 2026-11-23"
        text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert text.count("T1") >= 2
        rows = await deliveries(http, admin, status="delivered", channel="email")
        assert len(rows) == 3 and sum(1 for r in rows if r["digest_id"]) == 2

    restarted = build(settings)
    clock.now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    restarted.clock = clock
    async with running(restarted):
        await bus.publish(tip("T3", "79.26734", priority="urgent"))

        async def third_mail() -> bool:
            return len(mail.server.messages) == 3

        await eventually(third_mail, what="a later urgent email after the restart")
        assert [str(m["Subject"]).startswith("ANTQ: 2 notifications") for _, m, _ in mail.server.messages].count(
            True) == 1


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
        event = await bus.publish(tip("T1", "79.26734", priority="urgent"))
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
        event = await bus.publish(tip("T1", "79.26734", priority="urgent"))

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
        await bus.publish(tip("T0", "79.26734"))  # normal: below the subscription's minimum priority
        await bus.publish(tip("T1", "79.26734", priority="urgent"))

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
        await bus.publish(tip("T1", "79.26734", priority="urgent"), extra=secrets_of_reporter)

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


async def test_a_provinces_rules_file_replaces_the_default_routing(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock, tmp_path: Any) -> None:
    rules = tmp_path / "rules-79.yaml"
    rules.write_text(
        'version: "79.2026.1"\n'
        "critical: []\n"
        "rules:\n"
        "  - {id: every-tip-by-email, event: antq.tips.TipReceived.v1, audience: area_officers,"
        " channels: [inbox, email]}\n", encoding="utf-8")
    notify = build(notify_settings(notify_rules_file=rules))
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        await prefs(http, officer, email="p79@police.example")
        await bus.publish(tip("T-normal", "79.26734"))

        async def mailed() -> bool:
            return len(mail.server.to("p79@police.example")) == 1

        await eventually(mailed, what="a normal tip emailed under the province's rules")
        (notice,) = await inbox(http, officer)
        assert notice["critical"] is False
