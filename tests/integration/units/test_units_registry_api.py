"""The registry over HTTP: create, search, patch with history, scoping by role, and the events it emits."""

from __future__ import annotations

from shared.contracts.events import UnitRegistered, UnitUpdated
from tests.integration.units.units_support import Harness


async def test_unit_is_registered_with_hierarchical_area_and_event(units: Harness) -> None:
    r = await units.http.post("/units", headers=units.admin, json={
        "name": "Công ty TNHH Minh Long", "kind": "enterprise", "area_code": "79.26743", "tax_code": "0301234567",
        "size": "medium", "models": ["Tổ công nhân tự quản"],
        "head_of_unit": {"name": "Nguyễn Văn An", "phone": "0909000111"}})
    assert r.status_code == 201, r.text
    unit = r.json()
    assert unit["area_code"] == "79.26743" and unit["province_code"] == "79" and unit["commune_code"] == "26743"
    assert unit["external_key"] == "0301234567" and unit["in_scope"] and unit["managing_level"] == "commune"
    events = await units.events(UnitRegistered.TYPE)
    assert events == [{"unit_id": unit["unit_id"], "name": "Công ty TNHH Minh Long", "kind": "enterprise",
                       "area_code": "79.26743", "in_scope": True, "external_key": "0301234567"}]

    dup = await units.http.post("/units", headers=units.admin, json={
        "name": "Khác", "kind": "enterprise", "area_code": "79", "tax_code": "0301234567"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_external_key"

    provincial = await units.create_unit(kind="agency", area_code="79", name="Sở Tư pháp")
    assert provincial["area_code"] == "79" and provincial["managing_level"] == "province"


async def test_bad_unit_input_is_422_never_500(units: Harness) -> None:
    for body in ({"name": "x", "kind": "farm", "area_code": "79"},
                 {"name": "x", "kind": "agency", "area_code": "79..1", "external_key": "k1"},
                 {"name": "x", "kind": "agency", "area_code": "79", "external_key": "k2", "size": "small"},
                 {"name": "x", "kind": "school", "area_code": "79", "school_code": "s", "in_scope": True},
                 {"name": "", "kind": "agency"}):
        r = await units.http.post("/units", headers=units.admin, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"]


async def test_patch_emits_changed_fields_and_keeps_history(units: Harness) -> None:
    unit = await units.create_unit(name="Trường THCS Lê Lợi", kind="school", school_level="lower_secondary")
    uid = unit["unit_id"]
    r = await units.http.patch(f"/units/{uid}", headers=units.admin, json={
        "address": "12 Lê Lợi", "security_force_full_time": 3, "area_code": "79.26737",
        "head_of_unit": {"name": "Trần Thị Bình"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["area_code"] == "79.26737"
    assert set(body["changed"]) == {"address", "security_force_full_time", "commune_code", "area_code",
                                    "head_of_unit"}
    same = await units.http.patch(f"/units/{uid}", headers=units.admin, json={"address": "12 Lê Lợi"})
    assert same.status_code == 200 and same.json()["changed"] == {}
    events = await units.events(UnitUpdated.TYPE)
    assert len(events) == 1
    changed = events[0]["changed"]
    assert changed["area_code"] == "79.26737" and changed["address"] == "12 Lê Lợi"
    assert "Trần Thị Bình" not in str(events), "contacts never travel in events"

    history = await units.http.get(f"/units/{uid}/history", headers=units.admin)
    assert history.status_code == 200
    entries = history.json()["items"]
    assert [e["action"] for e in entries] == ["created", "updated"]
    assert entries[1]["changed"]["address"] == "12 Lê Lợi"

    refused = await units.http.patch(f"/units/{uid}", headers=units.admin, json={"kind": "agency"})
    assert refused.status_code == 422
    override = await units.http.patch(f"/units/{uid}", headers=units.admin, json={"in_scope": False})
    assert override.status_code == 422  # a scope override needs a reason
    override = await units.http.patch(f"/units/{uid}", headers=units.admin,
                                      json={"in_scope": False, "in_scope_reason": "merged into another school"})
    assert override.status_code == 200 and override.json()["in_scope"] is False


async def test_search_filters_area_hierarchically_and_pages(units: Harness) -> None:
    a = await units.create_unit(name="Trường THPT Nguyễn Du", kind="school", area_code="79.26743")
    b = await units.create_unit(name="Công ty Đông Á", kind="enterprise", area_code="79.26737", size="micro")
    c = await units.create_unit(name="Sở Công Thương", kind="agency", area_code="79")
    d = await units.create_unit(name="Công ty Hà Nội", kind="enterprise", area_code="01.00008")

    async def ids(**params: object) -> set[str]:
        r = await units.http.get("/units", headers=units.admin, params=params)
        assert r.status_code == 200, r.text
        return {u["unit_id"] for u in r.json()["items"]}

    assert await ids(area_code="79") == {a["unit_id"], b["unit_id"], c["unit_id"]}
    assert await ids(area_code="79.26743") == {a["unit_id"]}
    assert await ids(kind="enterprise") == {b["unit_id"], d["unit_id"]}
    assert await ids(in_scope="false") == {b["unit_id"]}
    assert await ids(q="truong thpt") == {a["unit_id"]}
    assert await ids(q="cong ty dong") == {b["unit_id"]}

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await units.http.get("/units", headers=units.admin, params=params)).json()
        seen += [u["name"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen) and len(seen) == 4
    bad = await units.http.get("/units", headers=units.admin, params={"cursor": "!!", "limit": 1})
    assert bad.status_code == 422
    # The contract's "max 500": a larger limit is served 500 at most, not refused; below 1 is refused.
    capped = await units.http.get("/units", headers=units.admin, params={"limit": 10_000})
    assert capped.status_code == 200 and len(capped.json()["items"]) == 4, capped.text
    zero = await units.http.get("/units", headers=units.admin, params={"limit": 0})
    assert zero.status_code == 422 and zero.json()["error"]["code"] == "invalid_limit"
    assert (await units.http.get("/units", headers=units.admin, params={"area_code": "7.9.1"})).status_code == 422


async def test_callers_see_only_their_scope(units: Harness) -> None:
    mine = await units.create_unit(area_code="79.26743", head_of_unit={"name": "Lê Văn Cường"})
    other = await units.create_unit(area_code="79.26737")
    staff = units.auth("unit", unit=mine["unit_id"])
    assert (await units.http.get(f"/units/{mine['unit_id']}", headers=staff)).status_code == 200
    assert (await units.http.get(f"/units/{other['unit_id']}", headers=staff)).status_code == 403
    assert (await units.http.get("/units/no-such-unit", headers=staff)).status_code == 403
    listed = (await units.http.get("/units", headers=staff)).json()["items"]
    assert [u["unit_id"] for u in listed] == [mine["unit_id"]]
    assert (await units.http.get(f"/units/{other['unit_id']}/history", headers=staff)).status_code == 403
    # Unit staff keep their contacts and headcount up to date, not their identity or scope.
    ok = await units.http.patch(f"/units/{mine['unit_id']}", headers=staff, json={"security_force_part_time": 4})
    assert ok.status_code == 200
    refused = await units.http.patch(f"/units/{mine['unit_id']}", headers=staff, json={"name": "Tên khác"})
    assert refused.status_code == 403

    commune_officer = units.auth("officer", area="79.26737")
    assert (await units.http.get(f"/units/{mine['unit_id']}", headers=commune_officer)).status_code == 403
    assert (await units.http.get(f"/units/{other['unit_id']}", headers=commune_officer)).status_code == 200
    listed = (await units.http.get("/units", headers=commune_officer, params={"area_code": "79.26743"})).json()
    assert listed["items"] == []
    # An officer cannot move a unit out of their own area.
    moved = await units.http.patch(f"/units/{other['unit_id']}", headers=commune_officer,
                                   json={"area_code": "79.26743"})
    assert moved.status_code == 403
    province_officer = units.auth("officer", area="79")
    assert (await units.http.get(f"/units/{mine['unit_id']}", headers=province_officer)).status_code == 200
    assert (await units.http.get(f"/units/{mine['unit_id']}", headers=units.auth("officer", area="01"))
            ).status_code == 403
    assert (await units.http.post("/units", headers=units.auth("officer", area="01"),
                                  json={"name": "x", "kind": "agency", "area_code": "79",
                                        "external_key": "x1"})).status_code == 403

    agency = units.auth("agency")
    seen = await units.http.get(f"/units/{mine['unit_id']}", headers=agency)
    assert seen.status_code == 200 and seen.json()["head_of_unit"] is None
    assert (await units.http.patch(f"/units/{mine['unit_id']}", headers=agency, json={"address": "x"})
            ).status_code == 403
    assert (await units.http.get("/units")).status_code == 401


async def test_search_words_with_quotes_and_wildcards_are_data_never_sql(units: Harness) -> None:
    """Plain search words are written into the statement for a plan that knows them; any other word (a quote, a
    backslash, a wildcard, a control character) stays a bound parameter and matches itself only."""
    odd = await units.create_unit(kind="enterprise", area_code="79", name="Cửa hàng O'Brien 100%_a\\b")
    plain = await units.create_unit(kind="enterprise", area_code="79", name="Cửa hàng Bình An")

    async def ids(q: str) -> set[str]:
        r = await units.http.get("/units", headers=units.admin, params={"q": q})
        assert r.status_code == 200, r.text
        return {u["unit_id"] for u in r.json()["items"]}

    assert await ids("o'brien") == {odd["unit_id"]}
    assert await ids("100%_a\\b") == {odd["unit_id"]}
    assert await ids("cua hang") == {odd["unit_id"], plain["unit_id"]}
    assert await ids("%") == {odd["unit_id"]} and await ids("_") == {odd["unit_id"]}  # themselves, not "anything"
    assert await ids("x' OR '1'='1") == set()
    assert await ids("binh'); DROP TABLE units; --") == set()
    assert await ids("binh an") == {plain["unit_id"]}
