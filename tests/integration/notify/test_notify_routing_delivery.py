"""Notify on one service: routing by area and role, duplicates, quiet hours, digests and a province's rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.notify.app import build
from shared.contracts.events import (
    CertificationRevoked,
    TipDeadlineApproaching,
    TipReceived,
    UnitRegistered,
)
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import (
    Clock,
    Mail,
    Publisher,
    auth,
    deliveries,
    inbox,
    notify_events,
    prefs,
    tip,
)


async def test_routing_by_area_and_role_reaches_inboxes_and_email(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        province = notify.tokens.issue(role="officer", area="79", sub="p79")
        commune = notify.tokens.issue(role="officer", area="79.26743", sub="c26743")
        other = notify.tokens.issue(role="officer", area="01", sub="p01")
        admin = notify.tokens.issue(role="admin", sub="root")
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1-staff")
        for token, email in ((province, "p79@police.example"), (commune, "c@police.example"),
                             (other, "p01@police.example"), (admin, "root@police.example"),
                             (unit, "security@u1.example")):
            await prefs(http, token, email=email)

        await bus.publish(tip("T-urgent", "79.26743", priority="urgent"))
        await bus.publish(tip("T-normal", "79.26737"))
        await bus.publish(UnitRegistered(unit_id="U1", name="Công ty A", kind="enterprise", area_code="79.26743",
                                         in_scope=True))
        revoked = await bus.publish(CertificationRevoked(unit_id="U1", year=2026, reason="illegal strike"))

        async def province_sees_all() -> list[dict[str, Any]]:
            items = await inbox(http, province)
            return items if len(items) == 3 else []

        items = await eventually(province_sees_all, what="three notices in the province inbox")
        assert {i["event_type"] for i in items} == {TipReceived.TYPE, CertificationRevoked.TYPE}
        assert any(i["link"].endswith("/tips/T-urgent") and i["critical"] for i in items)
        commune_items = await inbox(http, commune)
        assert {i["cause_event_id"] for i in commune_items} == {i["cause_event_id"] for i in items
                                                               if not i["link"].endswith("/tips/T-normal")}
        assert await inbox(http, other) == []
        assert len(await inbox(http, admin)) == 3
        unit_items = await inbox(http, unit)
        assert [i["cause_event_id"] for i in unit_items] == [revoked.id]

        # Email: the urgent tip and the revocation go to every officer covering the area, never to province 01.
        def mailed(address: str) -> list[str]:
            # A notice names the tip by what it is about; its link to the console carries the tip's id.
            return sorted(f'{m["Subject"]} {m.get_body(("plain",)).get_content()}'  # type: ignore[union-attr]
                          for m in mail.server.to(address))

        async def all_mail_sent() -> bool:
            return len(mail.server.messages) == 7

        await eventually(all_mail_sent, what="seven emails")
        for address in ("p79@police.example", "c@police.example", "root@police.example"):
            subjects = mailed(address)
            assert len(subjects) == 2 and any("T-urgent" in s for s in subjects), (address, subjects)
        assert len(mailed("security@u1.example")) == 1
        assert mailed("p01@police.example") == []
        assert not any("/tips/T-normal" in m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                   for _, m, _ in mail.server.messages)

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
        event = await bus.publish(tip("T1", "79.26743", priority="urgent"))
        await bus.republish(event)
        await bus.publish(tip("T2", "79.26743", priority="urgent"))  # after the duplicate: a sync point

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
        await bus.publish(tip("T1", "79.26743"))
        await bus.publish(TipDeadlineApproaching(tip_id="T1", deadline="forward_24h",
                                                 due_at=datetime(2026, 11, 24, 3, 0, tzinfo=UTC)))
        await bus.publish(tip("T2", "79.26743", priority="urgent"))

        async def urgent_mailed() -> bool:
            # The SMTP server sees the mail a moment before the worker commits the delivery as sent.
            sent = [r for r in await deliveries(http, admin, channel="email") if r["status"] == "delivered"]
            return len(mail.server.messages) == 1 and len(sent) == 1

        await eventually(urgent_mailed, what="the urgent tip's email at night")
        assert "/tips/T2" in mail.server.messages[0][1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
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
        await bus.publish(tip("T1", "79.26743"))
        for deadline in ("forward_24h", "decide_20d"):
            await bus.publish(TipDeadlineApproaching(tip_id="T1", deadline=deadline,  # type: ignore[arg-type]
                                                     due_at=datetime(2026, 11, 24, 3, 0, tzinfo=UTC)))
        await bus.publish(tip("T2", "79.26743", priority="urgent"))  # critical: bypasses the digest

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
        assert text.count("The tip about Theft") >= 2
        # The worker marks the digest's items delivered once the SMTP server has accepted the mail: a moment
        # after the message arrives there.

        async def marked() -> list[dict[str, Any]]:
            rows = await deliveries(http, admin, status="delivered", channel="email")
            return rows if len(rows) == 3 else []

        rows = await eventually(marked, what="the urgent email and the two digested items delivered")
        assert len(rows) == 3 and sum(1 for r in rows if r["digest_id"]) == 2

    restarted = build(settings)
    clock.now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    restarted.clock = clock
    async with running(restarted):
        await bus.publish(tip("T3", "79.26743", priority="urgent"))

        async def third_mail() -> bool:
            return len(mail.server.messages) == 3

        await eventually(third_mail, what="a later urgent email after the restart")
        assert [str(m["Subject"]).startswith("ANTQ: 2 notifications") for _, m, _ in mail.server.messages].count(
            True) == 1


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
        await bus.publish(tip("T-normal", "79.26743"))

        async def mailed() -> bool:
            return len(mail.server.to("p79@police.example")) == 1

        await eventually(mailed, what="a normal tip emailed under the province's rules")
        (notice,) = await inbox(http, officer)
        assert notice["critical"] is False


async def test_a_unit_never_hears_of_tips_even_about_itself(
        notify_settings: Callable[..., Settings], bus: Publisher, clock: Clock) -> None:
    """A tip is often about the reporter's own unit: the unit must not learn, as it happens, that one came in."""
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1-staff")
        for patterns in (["antq.tips.*"], ["antq.tips.TipReceived.v1", "antq.units.*"], ["antq.tips.>"], ["*"],
                         [">"], ["antq.*.TipReceived.v1"]):
            r = await http.post("/subscriptions", headers=auth(unit), json={"event_types": patterns,
                                                                            "channel": "inbox"})
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "event_types_not_allowed"
        # Everything of its own unit that it may read: allowed, and tips events never match it.
        r = await http.post("/subscriptions", headers=auth(unit), json={"event_types": ["antq.units.*",
                                                                                        "antq.awards.*"],
                                                                        "channel": "inbox"})
        assert r.status_code == 201, r.text

        await bus.publish(TipReceived(tip_id="T-about-U1", category="corruption", channel="web",
                                      area_code="79.26743", unit_id="U1", anonymous=True, priority="normal",
                                      received_at=datetime(2026, 11, 23, 3, 0, tzinfo=UTC)))
        revoked = await bus.publish(CertificationRevoked(unit_id="U1", year=2026, reason="illegal strike"))

        officer = notify.tokens.issue(role="officer", area="79", sub="p79")

        async def both_routed() -> bool:
            # The tip reached the area's officers, so it was routed; the revocation reached the unit.
            return bool(await inbox(http, officer, event_type=TipReceived.TYPE)) and bool(await inbox(http, unit))

        await eventually(both_routed, what="the tip routed to the officers and the revocation to the unit")
        items = await inbox(http, unit)
        assert [i["cause_event_id"] for i in items] == [revoked.id]
        logged = await deliveries(http, notify.tokens.issue(role="admin", sub="root"))
        assert {d["recipient_id"] for d in logged if d["event_type"] == TipReceived.TYPE} == {"desk:79.26743"}
