"""The year's workboard of an area: every in-scope unit with its dossier state, the filters and their counts,
keyset pages by unit name, and the officer's scope."""

from __future__ import annotations

from typing import Any

from tests.integration.units.test_units_cycle_api import YEAR, drive
from tests.integration.units.test_units_incidents import incident
from tests.integration.units.units_support import Harness


async def _board(h: Harness, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of GET /workboard, two rows a page."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await h.http.get("/workboard", headers=headers,
                             params={"year": YEAR, "limit": 2, **params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        rows += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return rows


async def test_the_workboard_lists_every_in_scope_unit_with_its_dossier_and_filters_them(units: Harness) -> None:
    h = units
    a = await h.create_unit(name="Công ty A", area_code="79.26743")
    b = await h.create_unit(name="Công ty B", area_code="79.26743")
    c = await h.create_unit(name="Công ty C", area_code="79.26743")
    d = await h.create_unit(name="Nhà máy Dệt", area_code="79.26743")
    other = await h.create_unit(name="Công ty E", area_code="79.26737")
    await drive(h, a["unit_id"], "submitted")
    await drive(h, b["unit_id"], "appraised")
    await drive(h, c["unit_id"], "registered")
    await incident(h, c["unit_id"], "high_value_theft")
    await drive(h, other["unit_id"], "submitted")
    commune = h.auth("officer", area="79.26743")

    rows = await _board(h, commune)
    assert [(r["unit_name"], r["state"], r["awaits"], r["disqualified"]) for r in rows] == [
        ("Công ty A", "submitted", "appraisal", False), ("Công ty B", "appraised", "decision", False),
        ("Công ty C", "registered", "self_assessment", True), ("Nhà máy Dệt", None, "registration", False)]
    assert all(r["year"] == YEAR and r["kind"] == "enterprise" for r in rows)

    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [r["unit_id"] for r in rows]

    assert ids(await _board(h, commune, show="not_registered")) == [d["unit_id"]]
    assert ids(await _board(h, commune, show="awaiting_appraisal")) == [a["unit_id"]]
    assert ids(await _board(h, commune, show="awaiting_decision")) == [b["unit_id"]]
    assert ids(await _board(h, commune, show="disqualified")) == [c["unit_id"]]
    assert ids(await _board(h, commune, q="nha may det")) == [d["unit_id"]]
    counts = (await h.http.get("/workboard/counts", headers=commune, params={"year": YEAR})).json()
    assert counts == {"year": YEAR, "all": 4, "not_registered": 1, "awaiting_appraisal": 1,
                      "awaiting_decision": 1, "disqualified": 1}

    # The province's board holds its communes; a commune officer never sees another commune's units.
    province = h.auth("officer", area="79")
    assert ids(await _board(h, province, show="awaiting_appraisal")) == [a["unit_id"], other["unit_id"]]
    assert ids(await _board(h, province, area_code="79.26737")) == [other["unit_id"]]
    refused = await h.http.get("/workboard", headers=commune, params={"area_code": "79.26737"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_scope"
    refused = await h.http.get("/workboard/counts", headers=commune, params={"area_code": "79"})
    assert refused.status_code == 403
    assert (await h.http.get("/workboard", headers=h.auth("unit", unit=a["unit_id"]))).status_code == 403
    assert (await h.http.get("/workboard")).status_code == 401
    bad = await h.http.get("/workboard", headers=commune, params={"show": "everything"})
    assert bad.status_code == 422
    bad = await h.http.get("/workboard", headers=commune, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
