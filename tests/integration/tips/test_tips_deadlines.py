"""Legal deadlines: the scheduler emits approaching/overdue exactly once per marker, across restarts, by the clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from services.tips.tasks import run_pass
from shared.settings import Settings
from shared.testing import eventually
from tests.integration.tips.tips_support import T0, Clock, Tips, tips_running, tips_settings


def _markers(events: list[dict]) -> list[tuple[str, str]]:
    return [(m["subject"].rsplit(".", 2)[-2], m["body"]["data"]["deadline"]) for m in events
            if "Deadline" in m["subject"] or "Overdue" in m["subject"]]


async def _gauge(tips: Tips, name: str, deadline: str) -> float:
    text = (await tips.http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'{name}{{deadline="{deadline}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def _gauge_is(tips: Tips, name: str, deadline: str, value: float) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _gauge(tips, name, deadline) == value

    return check


async def test_deadline_events_are_emitted_once_each_across_a_restart(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    settings = tips_settings(settings_factory, database_url)
    clock = Clock(T0)
    async with tips_running(settings, clock, nats_url, namespace) as tips:
        tip = await tips.submit()
        clock.now = T0 + timedelta(hours=19)  # the 24 h forwarding deadline warns 12 h ahead

        async def approaching() -> list:
            found = _markers(await tips.events())
            return found if found else []

        assert await eventually(approaching, what="approaching") == [("TipDeadlineApproaching", "forward_24h")]
        await eventually(_gauge_is(tips, "antq_tips_deadline_approaching_tips", "forward_24h", 1), what="gauge")
    # Down across the deadline: on restart the overdue notice that was owed meanwhile is emitted, once.
    clock.now = T0 + timedelta(hours=30)
    async with tips_running(settings, clock, nats_url, namespace) as tips:
        async def both() -> list:
            found = _markers(await tips.events())
            return found if len(found) >= 2 else []

        assert await eventually(both, what="overdue after restart") == [
            ("TipDeadlineApproaching", "forward_24h"), ("TipOverdue", "forward_24h")]
        await eventually(_gauge_is(tips, "antq_tips_overdue_tips", "forward_24h", 1), what="overdue gauge 1")
        overdue = (await tips.http.get("/tips", headers=tips.auth(), params={"overdue": "true"})).json()["items"]
        assert [t["tip_id"] for t in overdue] == [tip["tip_id"]] and overdue[0]["overdue"] is True
        # A late triage ends the forwarding deadline and starts the 20-day one.
        r = await tips.http.post(f"/tips/{tip['tip_id']}/triage", headers=tips.auth(), json={})
        assert r.status_code == 200 and r.json()["deadline"] == "decide_20d"
        assert (await tips.http.get("/tips", headers=tips.auth(), params={"overdue": "true"})).json()["items"] == []
        await eventually(_gauge_is(tips, "antq_tips_overdue_tips", "forward_24h", 0), what="overdue gauge 0")
    # A third start well before the next deadline's warning emits nothing new.
    clock.now = T0 + timedelta(days=5)
    async with tips_running(settings, clock, nats_url, namespace) as tips:
        assert await run_pass(tips.service.app.state.ctx) == 0
        assert len(_markers(await tips.events())) == 2


async def test_extension_moves_the_decide_deadline_and_overdue_filter_follows(tips: Tips) -> None:
    tip = await tips.submit()
    officer = tips.auth()
    await tips.http.post(f"/tips/{tip['tip_id']}/triage", headers=officer, json={})
    tips.clock.now = T0 + timedelta(days=12)  # before the 20-day deadline's warning (7 days ahead)
    r = await tips.http.post(f"/tips/{tip['tip_id']}/extend", headers=officer, json={"reason": "chờ giám định"})
    assert r.status_code == 200, r.text
    assert r.json()["deadline"] == "decide_extended"
    assert r.json()["due_at"].startswith("2026-05-02")  # two months from the start of the decide period
    r = await tips.http.post(f"/tips/{tip['tip_id']}/extend", headers=officer, json={"reason": ""})
    assert r.status_code == 422
    tips.clock.now = T0 + timedelta(days=58)  # fewer than 5 days before the extended expiry
    r = await tips.http.post(f"/tips/{tip['tip_id']}/extend", headers=officer, json={"reason": "thêm tài liệu"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "extension_too_late"

    async def warned() -> list:
        found = _markers(await tips.events())
        return found if ("TipDeadlineApproaching", "decide_extended") in found else []

    # The 20-day deadline was superseded before its warning time; only the extended one warns.
    assert await eventually(warned, what="extended warning") == [("TipDeadlineApproaching", "decide_extended")]
    detail = (await tips.http.get(f"/tips/{tip['tip_id']}", headers=officer)).json()
    assert [d["deadline"] for d in detail["deadlines"]] == ["forward_24h", "decide_20d", "decide_extended"]
    assert detail["extensions"][0]["reason"] == "chờ giám định"


async def test_warnings_come_12_hours_before_forwarding_and_7_days_before_deciding(tips: Tips) -> None:
    tip = await tips.submit()
    tips.clock.now = T0 + timedelta(hours=12)  # 12 h before the 24 h forwarding deadline

    async def forward_warned() -> list:
        found = _markers(await tips.events())
        return found if found else []

    assert await eventually(forward_warned, what="forwarding warning") == [("TipDeadlineApproaching", "forward_24h")]
    r = await tips.http.post(f"/tips/{tip['tip_id']}/triage", headers=tips.auth(), json={})
    assert r.status_code == 200, r.text
    # 7 days before the 20-day decision deadline: an extension (asked >= 5 days ahead) is still possible.
    tips.clock.now = T0 + timedelta(hours=12, days=13)

    async def decide_warned() -> list:
        found = _markers(await tips.events())
        return found if ("TipDeadlineApproaching", "decide_20d") in found else []

    assert await eventually(decide_warned, what="decision warning") == [
        ("TipDeadlineApproaching", "forward_24h"), ("TipDeadlineApproaching", "decide_20d")]
    r = await tips.http.post(f"/tips/{tip['tip_id']}/extend", headers=tips.auth(), json={"reason": "chờ giám định"})
    assert r.status_code == 200, r.text


async def test_an_urgent_tip_not_triaged_escalates_each_half_hour_once_and_shows_it(tips: Tips) -> None:
    tip = await tips.submit(category="ongoing_crime")  # urgent, in commune 79.26743
    tips.clock.now = T0 + timedelta(minutes=31)

    async def escalated(count: int) -> Callable[[], Awaitable[list]]:
        async def check() -> list:
            found = [m["body"]["data"] for m in await tips.events("TipEscalated.v1")]
            return found if len(found) >= count else []
        return check

    first = await eventually(await escalated(1), what="escalation to the province")
    assert [(e["level"], e.get("to_area")) for e in first] == [("province", "79")]
    detail = (await tips.http.get(f"/tips/{tip['tip_id']}", headers=tips.auth())).json()
    assert detail["escalation_level"] == "province" and detail["escalations"][0]["to_area"] == "79"
    tips.clock.now = T0 + timedelta(minutes=61)
    both = await eventually(await escalated(2), what="escalation to the national desk")
    assert [e["level"] for e in both] == ["province", "national"]
    r = await tips.http.post(f"/tips/{tip['tip_id']}/triage", headers=tips.auth(), json={})
    assert r.status_code == 200, r.text
    tips.clock.now = T0 + timedelta(hours=3)
    assert await run_pass(tips.service.app.state.ctx) == 0
    assert len(await tips.events("TipEscalated.v1")) == 2
    detail = (await tips.http.get(f"/tips/{tip['tip_id']}", headers=tips.auth())).json()
    assert detail["escalation_level"] == "national"
