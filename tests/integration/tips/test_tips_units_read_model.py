"""The tips service's own read model of units: names and areas from UnitRegistered and UnitUpdated, served to the
public form by GET /places/{commune}/units without asking the units service."""

from __future__ import annotations

from typing import Any

from shared.contracts.envelope import new_event
from shared.contracts.events import CycleRegistered, EventData, UnitRegistered, UnitUpdated
from shared.ratelimit import RateLimiter
from shared.testing import eventually
from tests.integration.spine.helpers import publish_raw
from tests.integration.tips.tips_support import T0, Tips

BEN_THANH, SAI_GON = "79.26743", "79.26740"


async def _publish(tips: Tips, data: EventData, msg_id: str | None = None) -> None:
    event = new_event(data, source="antq/units")
    await publish_raw(tips.nats_url, f"{tips.namespace}.{data.TYPE}", event.to_bytes(), msg_id=msg_id or event.id)


async def _units(tips: Tips, area: str, lang: str | None = None) -> list[dict[str, Any]]:
    r = await tips.http.get(f"/places/{area}/units", params={"lang": lang} if lang else None)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["truncated"] is False
    return list(body["items"])


async def test_names_and_areas_follow_unit_registered_and_unit_updated(tips: Tips) -> None:
    school = UnitRegistered(unit_id="U-school", name="Trường THPT Trưng Vương", kind="school",
                            area_code=BEN_THANH, in_scope=True)
    firm = UnitRegistered(unit_id="U-firm", name="Công ty TNHH Dệt May Hòa Bình", kind="enterprise",
                          area_code=BEN_THANH, in_scope=True)
    agency = UnitRegistered(unit_id="U-agency", name="Ủy ban nhân dân Phường Sài Gòn", kind="agency",
                            area_code=SAI_GON, in_scope=True)
    for data in (school, firm, agency):
        await _publish(tips, data)
    # Other unit events on the stream are skipped, not misread.
    await _publish(tips, CycleRegistered(unit_id="U-firm", year=2026, registered_at=T0, late=False))

    async def listed() -> list[dict[str, Any]]:
        items = await _units(tips, BEN_THANH)
        return items if len(items) == 2 and await _units(tips, SAI_GON) else []

    items = await eventually(listed, timeout=15, what="the units of Bến Thành and Sài Gòn")
    assert items == [
        {"unit_id": "U-firm", "name": "Công ty TNHH Dệt May Hòa Bình", "kind": "enterprise",
         "kind_label": "Doanh nghiệp"},
        {"unit_id": "U-school", "name": "Trường THPT Trưng Vương", "kind": "school", "kind_label": "Trường học"}]
    assert [u["kind_label"] for u in await _units(tips, SAI_GON, "en")] == ["Agency"]

    # The firm is renamed, the school moves to Sài Gòn; a late redelivery of the school's registration (another
    # message id) does not undo either.
    await _publish(tips, UnitUpdated(unit_id="U-firm", changed={"name": "Công ty CP Dệt May Hòa Bình",
                                                               "phone": "[redacted]"}))
    await _publish(tips, UnitUpdated(unit_id="U-school", changed={"commune_code": "26740", "area_code": SAI_GON}))
    await _publish(tips, school, msg_id="school-again")
    await _publish(tips, UnitUpdated(unit_id="U-unknown", changed={"name": "Never registered here"}))
    # The stream is read in order: once this last unit is listed, every event before it has been handled.
    await _publish(tips, UnitRegistered(unit_id="U-last", name="Trường Tiểu học Lê Ngọc Hân", kind="school",
                                        area_code=BEN_THANH, in_scope=True))

    async def moved() -> list[str]:
        here = [u["name"] for u in await _units(tips, BEN_THANH)]
        return here if "Trường Tiểu học Lê Ngọc Hân" in here else []

    assert await eventually(moved, timeout=15, what="the events handled") == [
        "Công ty CP Dệt May Hòa Bình", "Trường Tiểu học Lê Ngọc Hân"]
    assert [u["name"] for u in await _units(tips, SAI_GON)] == ["Trường THPT Trưng Vương",
                                                                 "Ủy ban nhân dân Phường Sài Gòn"]
    # The figures by unit kind still count by the kinds learnt.
    await tips.submit(unit_id="U-school", area_code=SAI_GON)
    stats = (await tips.http.get("/stats", headers=tips.auth("admin", None), params={"year": 2026})).json()
    assert stats["by_unit_kind"] == {"school": 1}


async def test_the_unit_list_is_public_bounded_to_communes_and_rate_limited(tips: Tips) -> None:
    assert (await tips.http.get("/places/79/units")).status_code == 404  # a province, not a commune
    r = await tips.http.get("/places/79.26734/units")  # not a code of the national list
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert await _units(tips, BEN_THANH) == []
    tips.service.app.state.ctx.limits.lookup = RateLimiter("submission form lists", rate=2, per=60)
    codes = [(await tips.http.get(f"/places/{BEN_THANH}/units")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = await tips.http.get("/places/79")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
