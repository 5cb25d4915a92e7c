"""The tips figures of the police reports (GET /stats): by assessment year, area and category; counts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.contracts.envelope import new_event
from shared.contracts.events import UnitRegistered
from shared.testing import eventually
from tests.integration.spine.helpers import publish_raw
from tests.integration.tips.tips_support import REPORTER, T0, Tips


async def test_stats_count_the_years_tips_by_category_area_value_and_deadlines(tips: Tips) -> None:
    admin = tips.auth("admin", None)
    officer = tips.auth()
    # Received in the assessment year 2025 (it ended on 15 November 2025).
    tips.clock.now = datetime(2025, 11, 10, 3, 0, tzinfo=UTC)
    await tips.submit(category="fraud", area_code="79.26743")
    # Received in 2026: two in province 79, one in province 01.
    tips.clock.now = T0
    a = await tips.submit(category="theft", area_code="79.26743")
    b = await tips.submit(category="drugs", area_code="79.26737", anonymous=False, reporter=REPORTER,
                          unit_id="U-school")
    await tips.submit(category="theft", area_code="01.00004", unit_id="U-unknown")
    # The units service registered U-school: tips learns its kind (twice published, remembered once).
    registered = new_event(UnitRegistered(unit_id="U-school", name="Trường THPT A", kind="school",
                                          area_code="79.26737", in_scope=True), source="antq/units")
    for msg_id in (registered.id, registered.id + "-again"):
        await publish_raw(tips.nats_url, f"{tips.namespace}.{UnitRegistered.TYPE}", registered.to_bytes(),
                          msg_id=msg_id)
    for tip, verdict in ((a, {"valuable": True, "outcome": "prosecuted"}),
                         (b, {"valuable": False, "outcome": "unfounded"})):
        assert (await tips.http.post(f"/tips/{tip['tip_id']}/triage", headers=officer, json={})).status_code == 200
        r = await tips.http.post(f"/tips/{tip['tip_id']}/verify", headers=officer, json=verdict)
        assert r.status_code == 200, r.text
    tips.clock.now = T0 + timedelta(hours=30)  # the untriaged tip of province 01 is past its 24 h deadline

    async def stats(**params: Any) -> dict[str, Any]:
        r = await tips.http.get("/stats", headers=admin, params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def missed_noted() -> dict[str, Any]:
        figures = await stats(year=2026)
        return figures if figures["missed_deadline"] == 1 and "school" in figures["by_unit_kind"] else {}

    year = await eventually(missed_noted, timeout=15, what="the missed deadline noted by the scheduler")
    assert year["period"] == {"from": "2025-11-16", "to": "2026-11-15"}
    assert (year["received"], year["anonymous"], year["with_unit"]) == (3, 2, 2)
    assert year["by_unit_kind"] == {"school": 1, "unknown": 1}
    schools = await stats(year=2026, kind="school")
    assert schools["received"] == 1 and schools["by_category"] == {"drugs": 1} and schools["kind"] == "school"
    assert year["by_category"] == {"theft": 2, "drugs": 1}
    assert year["by_area"] == {"79": 2, "01": 1}
    assert year["by_channel"] == {"api": 3} and year["by_priority"] == {"normal": 3}
    assert year["by_status"] == {"decided": 1, "dismissed": 1, "received": 1}
    assert (year["verified"], year["valuable"], year["valuable_rate"]) == (2, 1, 0.5)
    assert year["valuable_by_category"] == {"theft": 1}
    assert year["by_outcome"] == {"prosecuted": 1, "unfounded": 1}
    assert year["overdue_now"] == 1 and year["missed_by_deadline"] == {"forward_24h": 1}

    province = await stats(year=2026, area_code="79")
    assert province["received"] == 2 and province["by_area"] == {"79.26743": 1, "79.26737": 1}
    theft = await stats(year=2026, category="theft")
    assert theft["received"] == 2 and theft["valuable"] == 1
    earlier = await stats(year=2025)
    assert earlier["received"] == 1 and earlier["by_category"] == {"fraud": 1}
    assert earlier["period"] == {"from": "2024-11-16", "to": "2025-11-15"}

    # Officers get their own area by default and nothing beyond it; units get nothing.
    commune = await tips.http.get("/stats", headers=tips.auth(area="79.26743"), params={"year": 2026})
    assert commune.status_code == 200 and commune.json()["area_code"] == "79.26743"
    assert commune.json()["received"] == 1
    other = await tips.http.get("/stats", headers=tips.auth(area="79.26743"), params={"area_code": "01"})
    assert other.status_code == 403
    assert (await tips.http.get("/stats", headers=tips.auth("unit", None, unit="u1"))).status_code == 403
    assert (await tips.http.get("/stats")).status_code == 401
    # Counts only: nothing of a reporter.
    text = (await tips.http.get("/stats", headers=admin, params={"year": 2026})).text
    assert not any(value in text for value in REPORTER.values())
