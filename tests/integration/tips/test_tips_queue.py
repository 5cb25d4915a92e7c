"""The officer queue at scale in SQL: nearest-deadline order with keyset pages, filters, counts, area scoping,
and the reveal record of a tip (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.integration.tips.tips_support import REPORTER, T0, Tips


async def _queue(tips: Tips, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of the queue, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await tips.http.get("/tips", headers=headers, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


async def _world(tips: Tips) -> dict[str, str]:
    """Five tips received an hour apart: `assigned` triaged to officer-79, `urgent`, `decided` (no deadline
    left), `elsewhere` in area 01, `plain`; the clock ends 4 hours after the first."""
    officer = tips.auth("officer", "79")
    ids: dict[str, str] = {}
    for n, (name, overrides) in enumerate([("assigned", {}), ("urgent", {"category": "ongoing_crime"}),
                                           ("decided", {}), ("elsewhere", {"area_code": "01"}), ("plain", {})]):
        tips.clock.now = T0 + timedelta(hours=n)
        ids[name] = (await tips.submit(**overrides))["tip_id"]
    for step, body in (("triage", {"assigned_officer": "officer-79"}),):
        assert (await tips.http.post(f"/tips/{ids['assigned']}/{step}", headers=officer, json=body)).status_code == 200
    decided = ids["decided"]
    for step, body in (("triage", {}), ("begin-verification", None),
                       ("verify", {"valuable": False, "outcome": "unfounded"})):
        r = await tips.http.post(f"/tips/{decided}/{step}", headers=officer, json=body)
        assert r.status_code == 200, r.text
    return ids


async def test_the_deadline_order_pages_through_the_officers_area_nearest_deadline_first(tips: Tips) -> None:
    ids = await _world(tips)
    officer = tips.auth("officer", "79")
    whole = await _queue(tips, officer, sort="deadline", limit=50)
    running = [i for i in whole if i["due_at"]]
    assert [i["tip_id"] for i in running] == [i["tip_id"] for i in sorted(
        running, key=lambda i: (datetime.fromisoformat(i["due_at"]), i["tip_id"]))]
    # Tips with a running deadline first, those without (decided) last; never another area's tip.
    assert [i["tip_id"] for i in whole][-1] == ids["decided"]
    assert {i["tip_id"] for i in whole} == set(ids.values()) - {ids["elsewhere"]}
    # One tip per page gives the same order: the keyset cursor crosses from the deadlines to the rest.
    assert [i["tip_id"] for i in await _queue(tips, officer, sort="deadline", limit=1)] == \
        [i["tip_id"] for i in whole]
    assert [i["tip_id"] for i in await _queue(tips, tips.auth("officer", "01"), sort="deadline")] == \
        [ids["elsewhere"]]
    assert len(await _queue(tips, tips.auth("admin", None), sort="deadline", limit=2)) == 5
    bad = await tips.http.get("/tips", headers=officer, params={"sort": "deadline", "cursor": "WyJ4Il0"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    assert (await tips.http.get("/tips", headers=officer, params={"sort": "due"})).status_code == 422


async def test_the_queue_filters_by_channel_assignment_urgency_state_and_deadline(tips: Tips) -> None:
    ids = await _world(tips)
    officer = tips.auth("officer", "79")

    async def names(**params: Any) -> set[str]:
        found = {i["tip_id"] for i in await _queue(tips, officer, sort="deadline", **params)}
        return {name for name, tip_id in ids.items() if tip_id in found}

    assert await names(assigned="me") == {"assigned"}
    assert await names(assigned="none") == {"urgent", "decided", "plain"}
    assert await names(priority="urgent") == {"urgent"}
    assert await names(channel="api") == {"assigned", "urgent", "decided", "plain"}
    assert await names(channel="web") == set()
    assert await names(status="open") == {"assigned", "urgent", "plain"}
    assert await names(status="dismissed") == {"decided"}
    assert await names(overdue="true") == set()
    assert await names(due_within_days=5) == {"urgent", "plain"}  # the 24-hour forwarding deadlines
    tips.clock.now = T0 + timedelta(days=2)  # the forwarding deadlines have passed
    assert await names(overdue="true") == {"urgent", "plain"}
    assert await names(due_within_days=5) == set()
    assert await names(overdue="true", assigned="none", priority="urgent") == {"urgent"}
    r = await tips.http.get("/tips", headers=officer, params={"assigned": "someone"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    assert (await tips.http.get("/tips", headers=officer, params={"due_within_days": -1})).status_code == 422
    assert (await tips.http.get("/tips", headers=officer, params={"area_code": "01"})).status_code == 403


async def test_counts_cover_each_filter_value_of_the_officers_area_only(tips: Tips) -> None:
    await _world(tips)
    officer = tips.auth("officer", "79")
    r = await tips.http.get("/tips/counts", headers=officer)
    assert r.status_code == 200, r.text
    counts = r.json()
    assert counts["total"] == 4 and counts["soon_days"] == 5
    assert counts["status"]["open"] == 3 and sum(v for k, v in counts["status"].items() if k != "open") == 4
    assert counts["priority"] == {"urgent": 1, "normal": 3}
    assert counts["channel"] == {"web": 0, "api": 4, "agency": 0}
    assert counts["assigned"] == {"me": 1, "none": 3}
    assert counts["deadline"] == {"overdue": 0, "due_soon": 2}
    # The same filters as the list: the counts of what the list shows.
    urgent = (await tips.http.get("/tips/counts", headers=officer, params={"priority": "urgent"})).json()
    assert urgent["total"] == 1 and urgent["priority"] == {"urgent": 1, "normal": 0}
    tips.clock.now = T0 + timedelta(days=2)
    later = (await tips.http.get("/tips/counts", headers=officer, params={"soon_days": 30})).json()
    assert later["deadline"]["overdue"] == 2 and later["deadline"]["due_soon"] == 1  # the 20-day deadline
    assert (await tips.http.get("/tips/counts", headers=tips.auth("officer", "01"))).json()["total"] == 1
    assert (await tips.http.get("/tips/counts", headers=tips.auth("admin", None))).json()["total"] == 5
    assert (await tips.http.get("/tips/counts", headers=tips.auth("unit", None, unit="u1"))).status_code == 403
    assert (await tips.http.get("/tips/counts")).status_code == 401


async def test_the_reveal_record_is_on_the_tip_for_those_who_may_read_it(tips: Tips) -> None:
    tip_id = (await tips.submit(anonymous=False, reporter=REPORTER))["tip_id"]
    officer = tips.auth("officer", "79")
    assert (await tips.http.get(f"/tips/{tip_id}", headers=officer)).json()["reveals"] == []
    reason = "Cần liên hệ người báo để bảo vệ nhân chứng"
    r = await tips.http.post(f"/tips/{tip_id}/reporter", headers=officer, json={"reason": reason})
    assert r.status_code == 200, r.text
    tips.clock.now = T0 + timedelta(hours=1)
    r = await tips.http.post(f"/tips/{tip_id}/reporter", headers=tips.auth("admin", None, sub="admin-1"),
                             json={"reason": "Kiểm tra theo yêu cầu thanh tra"})
    assert r.status_code == 200, r.text
    detail = (await tips.http.get(f"/tips/{tip_id}", headers=officer)).json()
    assert [(x["by"], x["role"], x["reason"]) for x in detail["reveals"]] == [
        ("officer-79", "officer", reason), ("admin-1", "admin", "Kiểm tra theo yêu cầu thanh tra")]
    assert detail["reveals"][0]["at"].startswith(T0.isoformat()[:16])
    # The record names who and why, never the reporter.
    assert REPORTER["name"] not in str(detail["reveals"]) and REPORTER["phone"] not in str(detail["reveals"])
    # Someone who may not read the tip sees no record either.
    other = await tips.http.get(f"/tips/{tip_id}", headers=tips.auth("officer", "01"))
    assert other.status_code == 403 and "reveals" not in other.text
