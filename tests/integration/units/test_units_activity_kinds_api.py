"""Activity kinds over HTTP: the public list, reports refused with the kinds and figures allowed, never a 500."""

from __future__ import annotations

from tests.integration.units.units_support import Harness


async def test_the_kinds_are_public_with_their_figures_in_both_languages(units: Harness) -> None:
    r = await units.http.get("/activity-kinds")
    assert r.status_code == 200, r.text
    body = r.json()
    kinds = {k["code"]: k for k in body["items"]}
    assert body["version"] == "activity-kinds-2021.1"
    assert {"banners_slogans", "news_items", "protection_plan", "self_managed_group",
            "mass_mobilisation_meeting", "propaganda_session"} <= set(kinds)
    banners = kinds["banners_slogans"]
    assert banners["vi"] == "Băng rôn, khẩu hiệu" and banners["en"] == "Banners and slogans"
    assert banners["figures"] == [{"code": "items", "vi": "Băng rôn, khẩu hiệu", "en": "Banners and slogans",
                                   "type": "integer", "unit": "item", "required": True, "default": None, "min": 0,
                                   "max": 10_000_000}]


async def test_reports_of_unknown_kinds_or_missing_figures_are_422_naming_what_is_allowed(units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    url = f"/units/{uid}/activities"
    r = await units.http.post(url, headers=units.admin, json={"kind": "karaoke", "held_on": "2026-01-05",
                                                              "participants": 3})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_activity_kind"
    assert "banners_slogans" in r.json()["error"]["details"]["allowed"]
    r = await units.http.post(url, headers=units.admin, json={"kind": "banners_slogans", "held_on": "2026-01-05"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "figures_missing" and r.json()["error"]["details"]["missing"] == ["items"]
    r = await units.http.post(url, headers=units.admin, json={"kind": "protection_plan", "held_on": "2026-01-05",
                                                              "figures": {"plans": 2, "sirens": 1}})
    assert r.status_code == 422 and r.json()["error"]["details"]["allowed"] == ["plans"]
    for bad in ({"kind": "news_items", "held_on": "2026-01-05", "figures": {"items": -1}},
                {"kind": "news_items", "held_on": "2026-01-05", "figures": {"items": "many"}},
                {"kind": "news_items", "held_on": "2026-01-05", "figures": ["items"]},
                {"kind": "", "held_on": "2026-01-05"},
                {"kind": "news_items", "held_on": "2026-01-05", "figures": {"items": 10**12}}):
        r = await units.http.post(url, headers=units.admin, json=bad)
        assert r.status_code == 422, (bad, r.text)
    r = await units.http.post(url, headers=units.admin, json={"kind": "protection_plan", "held_on": "2026-01-05"})
    assert r.status_code == 201, r.text
    assert r.json()["figures"] == {"plans": 1} and r.json()["kinds_version"] == "activity-kinds-2021.1"
    listed = (await units.http.get(url, headers=units.admin)).json()["items"]
    assert [(a["kind"], a["figures"]) for a in listed] == [("protection_plan", {"plans": 1})]
