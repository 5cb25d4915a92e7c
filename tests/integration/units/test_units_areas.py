"""The national list over HTTP: public provinces and communes by name, and 422 unknown_area with close matches."""

from __future__ import annotations

from tests.integration.units.units_support import Harness


async def test_areas_lists_the_34_provinces_and_a_provinces_communes_without_a_token(units: Harness) -> None:
    r = await units.http.get("/areas")
    assert r.status_code == 200, r.text
    provinces = r.json()["items"]
    assert len(provinces) == 34
    assert {"code": "79", "name": "Thành phố Hồ Chí Minh", "division_type": "thành phố trung ương",
            "name_en": "Ho Chi Minh City", "local": False} in provinces
    r = await units.http.get("/areas/79")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["province"]["code"] == "79" and len(body["items"]) == 168
    assert {"code": "79.26743", "name": "Phường Bến Thành", "division_type": "phường",
            "name_en": "Ben Thanh Ward", "local": False} in body["items"]


async def test_areas_search_ignores_accents_and_case(units: Harness) -> None:
    r = await units.http.get("/areas", params={"q": "ben thanh"})
    assert r.status_code == 200, r.text
    assert [a["code"] for a in r.json()["items"]] == ["79.26743"]
    r = await units.http.get("/areas/79", params={"q": "TÂN ĐỊNH"})
    assert [a["name"] for a in r.json()["items"]] == ["Phường Tân Định"]
    assert (await units.http.get("/areas/01", params={"q": "tân định"})).json()["items"] == []


async def test_an_unknown_province_is_422_unknown_area_with_close_matches(units: Harness) -> None:
    r = await units.http.get("/areas/78")
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_area"
    assert "79" in [m["code"] for m in error["details"]["close_matches"]]


async def test_a_unit_in_a_commune_not_on_the_list_is_refused_with_close_matches(units: Harness) -> None:
    r = await units.http.post("/units", headers=units.admin, json={
        "name": "Công ty X", "kind": "enterprise", "area_code": "79.26744", "tax_code": "0309999999"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_area" and error["details"]["area_code"] == "79.26744"
    assert {"code": "79.26743", "name": "Phường Bến Thành, Thành phố Hồ Chí Minh"} in error["details"]["close_matches"]
    r = await units.http.get("/units", headers=units.admin, params={"area_code": "79.26744"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_area"
