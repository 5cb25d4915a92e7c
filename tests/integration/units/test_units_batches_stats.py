"""Batch appraisals and decisions for a commune, the report figures against the reference, and the gauges."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select

from services.units import store
from services.units.domain import Activity, Cycle, Incident, StatsQuery, Unit
from shared.contracts.events import CertificationDenied, UnitAppraised, UnitCertified
from shared.testing import eventually
from tests.integration.units.test_units_cycle_api import drive, scored_codes
from tests.integration.units.test_units_incidents import incident
from tests.integration.units.units_support import Harness
from tests.units_reference_stats import compute_stats

COMMUNE = "79.26743"


async def batch(h: Harness, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    r = await h.http.post(f"/batches/{path}", json={"year": 2026, "area_code": COMMUNE, **body},
                          headers=headers or h.admin)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_commune_is_appraised_and_decided_in_batches_with_per_item_results(units: Harness) -> None:
    ids = [(await units.create_unit(area_code=COMMUNE))["unit_id"] for _ in range(5)]
    elsewhere = (await units.create_unit(area_code="79.26737"))["unit_id"]
    officer = units.auth("officer", area=COMMUNE)

    reg = await batch(units, "registrations", {"unit_ids": [*ids, elsewhere, "ghost", ids[0]]}, officer)
    assert (reg["succeeded"], reg["failed"]) == (5, 3)
    errors = {i["unit_id"]: i["error"]["code"] for i in reg["items"] if not i["ok"]}
    assert errors == {elsewhere: "forbidden_scope", "ghost": "not_found", ids[0]: "duplicate_item"}
    again = await batch(units, "registrations", {"unit_ids": ids[:1]}, officer)
    assert again["items"][0]["error"]["code"] == "illegal_transition"

    codes = await scored_codes(units, ids[0])
    results = {c: {"result": "met"} for c in codes}
    sa = await batch(units, "self-assessments", {"items": [
        {"unit_id": u, "results": results} for u in ids[:4]] + [{"unit_id": ids[4]}]}, officer)
    assert (sa["succeeded"], sa["failed"]) == (4, 1)
    assert sa["items"][4]["error"]["code"] == "criteria_missing"
    sub = await batch(units, "submissions", {"unit_ids": ids}, officer)
    assert (sub["succeeded"], sub["failed"]) == (4, 1)
    assert sub["items"][4]["error"]["details"]["allowed"] == ["record_criterion", "self_assess"]

    appraisals = await batch(units, "appraisals", {"items": [
        {"unit_id": ids[0], "recommended": True}, {"unit_id": ids[1], "recommended": True},
        {"unit_id": ids[2], "recommended": True}, {"unit_id": ids[3], "recommended": False, "note": "thiếu hồ sơ"},
        {"unit_id": ids[4], "recommended": True}]}, officer)
    assert [i["ok"] for i in appraisals["items"]] == [True, True, True, True, False]
    decisions = await batch(units, "decisions", {"items": [
        {"unit_id": ids[0], "recognized": True, "decision_no": "45/QĐ-UBND", "rating": "excellent"},
        {"unit_id": ids[1], "recognized": True, "decision_no": "45/QĐ-UBND"},
        {"unit_id": ids[2], "recognized": True},
        {"unit_id": ids[3], "recognized": True, "decision_no": "45/QĐ-UBND"},
        {"unit_id": ids[4], "recognized": False}]}, officer)
    assert [(i["ok"], i.get("state"), (i.get("error") or {}).get("code")) for i in decisions["items"]] == [
        (True, "recognised", None), (True, "recognised", None), (False, None, "invalid"),
        (False, None, "not_recommended"), (False, None, "illegal_transition")]
    assert decisions["items"][2]["error"]["status"] == 422
    certified = await units.events(UnitCertified.TYPE)
    assert sorted(e["unit_id"] for e in certified) == sorted(ids[:2])
    assert len(await units.events(UnitAppraised.TYPE)) == 4
    assert await units.events(CertificationDenied.TYPE) == []

    other_officer = units.auth("officer", area="79.26737")
    r = await units.http.post("/batches/decisions", headers=other_officer, json={
        "year": 2026, "area_code": COMMUNE, "items": [{"unit_id": ids[2], "recognized": False}]})
    assert r.status_code == 403
    r = await units.http.post("/batches/decisions", headers=units.auth("unit", unit=ids[2]), json={
        "year": 2026, "area_code": COMMUNE, "items": [{"unit_id": ids[2], "recognized": False}]})
    assert r.status_code == 403
    r = await units.http.post("/batches/decisions", headers=units.admin, json={
        "year": 2026, "area_code": COMMUNE, "items": []})
    assert r.status_code == 422


async def _reference(units: Harness, query: StatsQuery) -> dict[str, Any]:
    async with units.service.db.read() as session:
        all_units = [Unit.from_dict(d) for d in (await session.execute(select(store.units.c.data))).scalars()]
        cycles = [Cycle.from_dict(d) for d in (await session.execute(select(store.cycles.c.data))).scalars()]
        activities = [Activity.model_validate(dict(r))
                      for r in (await session.execute(select(store.activities))).mappings()]
        incidents = [Incident.model_validate(dict(r))
                     for r in (await session.execute(select(store.incidents))).mappings()]
    # Computed for the request (the tests' max age is 0): dated by the service's clock.
    return compute_stats(query, units=all_units, cycles=cycles, activities=activities,
                         incidents=incidents).model_copy(update={"computed_at": units.clock()}).model_dump(mode="json")


async def test_stats_match_the_reference_computation_by_area_and_kind(units: Harness) -> None:
    made: dict[str, list[str]] = {}
    plan = [("enterprise", COMMUNE, {"size": "large", "models": ["Tổ công nhân tự quản", "Camera"]}),
            ("enterprise", COMMUNE, {"size": "micro"}),
            ("enterprise", "79.26737", {"models": ["Tổ công nhân tự quản"]}),
            ("school", COMMUNE, {"school_level": "upper_secondary", "models": ["Trường học an toàn"]}),
            ("school", "79.26737", {"school_level": "primary"}),
            ("agency", "79", {}),
            ("agency", "79.26737", {"armed_forces": True, "in_scope": True, "in_scope_reason": "pilot"}),
            ("agency", "01.00004", {})]
    for kind, area, extra in plan:
        made.setdefault(kind, []).append((await units.create_unit(kind=kind, area_code=area, **extra))["unit_id"])
    # A dissolved unit: still in the registry, no longer in scope of anything.
    gone = (await units.create_unit(kind="enterprise", area_code="79.26737"))["unit_id"]
    r = await units.http.patch(f"/units/{gone}", headers=units.admin, json={"status": "dissolved"})
    assert r.status_code == 200, r.text
    e1, _, e3 = made["enterprise"]
    s1, _ = made["school"]
    a1, a2, a3 = made["agency"]
    await drive(units, e1, "recognised")
    await drive(units, e3, "not_recognised")
    await drive(units, s1, "submitted")
    await incident(units, s1, "school_violence")
    await drive(units, a1, "revoked")
    await drive(units, a2, "in_progress")
    await drive(units, a3, "recognised")
    await incident(units, e3, "strike_prevented")
    await incident(units, e1, "strike_stabilised")
    await incident(units, a1, "minor_fire", "2025-05-01T08:00:00+07:00")
    for uid, kind, held, people in [(e1, "propaganda_session", date(2026, 1, 5), 120),
                                    (e1, "commitment_drive", date(2026, 1, 6), 300),
                                    (s1, "propaganda_session", date(2025, 12, 1), 800),
                                    (s1, "drill", date(2025, 3, 1), 50),
                                    (a3, "training", date(2026, 2, 1), 30)]:
        r = await units.http.post(f"/units/{uid}/activities", headers=units.admin,
                                  json={"kind": kind, "held_on": held.isoformat(), "participants": people})
        assert r.status_code == 201, r.text
    future = await units.http.post(f"/units/{e1}/activities", headers=units.admin,
                                   json={"kind": "drill", "held_on": "2027-01-01", "participants": 1})
    assert future.status_code == 422
    staff = units.auth("unit", unit=s1)
    r = await units.http.post(f"/units/{s1}/activities", headers=staff,
                              json={"kind": "commitment_drive", "held_on": "2026-02-01", "participants": 640,
                                    "commitments_signed": 600})
    assert r.status_code == 201
    assert len((await units.http.get(f"/units/{s1}/activities", headers=staff)).json()["items"]) == 3
    # Kinds beyond the first four carry their own figures (rules/activities): banners, self-managed groups.
    for uid, body in [(e1, {"kind": "banners_slogans", "held_on": "2026-01-10", "figures": {"items": 40}}),
                      (s1, {"kind": "banners_slogans", "held_on": "2026-01-11", "figures": {"items": 6}}),
                      (e3, {"kind": "self_managed_group", "held_on": "2026-01-12", "figures": {"members": 9}}),
                      (a3, {"kind": "news_items", "held_on": "2025-01-12", "figures": {"items": 3}})]:
        r = await units.http.post(f"/units/{uid}/activities", headers=units.admin, json=body)
        assert r.status_code == 201, r.text

    for params in ({"year": 2026}, {"year": 2026, "area_code": "79"}, {"year": 2026, "area_code": COMMUNE},
                   {"year": 2026, "area_code": "79.26737", "kind": "agency"}, {"year": 2026, "kind": "school"},
                   {"year": 2025}, {"year": 2026, "area_code": "48"}):
        r = await units.http.get("/stats", headers=units.admin, params=params)
        assert r.status_code == 200, r.text
        assert r.json() == await _reference(units, StatsQuery(**params)), params  # type: ignore[arg-type]

    figures = (await units.http.get("/stats", headers=units.admin, params={"year": 2026, "area_code": "79"})).json()
    assert figures["cycles"]["recognised"] == 1 and figures["cycles"]["revoked"] == 1
    assert figures["cycles"]["not_recognised_by_reason"] == {"decision": 1}
    assert figures["incidents"]["strikes_prevented"] == 1 and figures["incidents"]["strikes_stabilised"] == 1
    assert figures["activities"]["commitments_signed"] == 900
    assert figures["activities"]["by_kind"]["banners_slogans"] == {"count": 2, "items": 46}
    assert figures["activities"]["by_kind"]["self_managed_group"] == {"count": 1, "groups": 1, "members": 9}
    assert figures["activities"]["by_kind"]["news_items"] == {"count": 0, "items": 0}  # held in 2025
    assert figures["activities"]["by_kind"]["propaganda_session"] == {"count": 2, "participants": 920}
    assert figures["activities"]["propaganda_sessions"] == 2
    assert figures["units"]["out_of_scope_by_rule"] == {"small_or_micro_enterprise": 1, "primary_school": 1}
    assert figures["units"]["dissolved"] == 1
    assert figures["units"]["total"] == figures["units"]["active"] + 1
    assert figures["units"]["in_scope"] + figures["units"]["out_of_scope"] == figures["units"]["active"]

    officer = units.auth("officer", area=COMMUNE)
    mine = (await units.http.get("/stats", headers=officer, params={"year": 2026})).json()
    assert mine["area_code"] == COMMUNE and mine["units"]["total"] == 3
    assert (await units.http.get("/stats", headers=officer, params={"area_code": "79"})).status_code == 403
    assert (await units.http.get("/stats", headers=units.auth("unit", unit=e1))).status_code == 403
    assert (await units.http.get("/stats", headers=units.auth("agency"))).status_code == 200

    async def gauges() -> str:
        text = (await units.http.get("/metrics")).text
        return text if 'antq_units_cycles{state="recognised",year="2026"} 2.0' in text else ""

    text = await eventually(gauges, timeout=10, what="cycle gauge")
    assert 'antq_units_units{in_scope="true",kind="agency"} 3.0' in text
    assert 'antq_units_units{in_scope="false",kind="enterprise"} 1.0' in text


async def test_an_area_s_cycle_figures_follow_its_units_when_they_move(units: Harness) -> None:
    """The cycles carry their unit's area for /stats (`store.set_cycle_areas`): a cycle registered in a batch, a
    unit moved by PATCH and one moved by the bulk import are counted in their new area, not their old one."""
    moved = (await units.create_unit(kind="enterprise", area_code=COMMUNE, external_key="MOVE-1"))["unit_id"]
    imported = (await units.create_unit(kind="school", area_code=COMMUNE, external_key="MOVE-2",
                                        school_level="lower_secondary"))["unit_id"]
    stays = (await units.create_unit(kind="enterprise", area_code=COMMUNE))["unit_id"]
    await drive(units, moved, "recognised")
    await drive(units, imported, "submitted")
    await drive(units, stays, "in_progress")
    queries = [{"year": 2026, "area_code": a} for a in ("79", COMMUNE, "79.26737", "01", "01.00004")]

    async def match() -> None:
        for params in [*queries, {"year": 2026}]:
            r = await units.http.get("/stats", headers=units.admin, params=params)
            assert r.status_code == 200, r.text
            assert r.json() == await _reference(units, StatsQuery(**params)), params  # type: ignore[arg-type]

    await match()
    r = await units.http.patch(f"/units/{moved}", headers=units.admin, json={"area_code": "01.00004"})
    assert r.status_code == 200, r.text
    body = json.dumps({"name": "Trường THCS chuyển xã", "kind": "school", "area_code": "79.26737",
                       "external_key": "MOVE-2", "school_level": "lower_secondary"}, ensure_ascii=False)
    r = await units.http.post("/imports/units", content=body.encode(),
                              headers={**units.admin, "content-type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    await match()
    commune = (await units.http.get("/stats", headers=units.admin, params={"year": 2026, "area_code": COMMUNE})).json()
    assert commune["cycles"]["by_state"] == {"in_progress": 1}
    hanoi = (await units.http.get("/stats", headers=units.admin, params={"year": 2026, "area_code": "01"})).json()
    assert hanoi["cycles"]["recognised"] == 1 and hanoi["cycles"]["recognised_by_rating"]
    other = (await units.http.get("/stats", headers=units.admin,
                                  params={"year": 2026, "area_code": "79.26737"})).json()
    assert other["cycles"]["by_state"] == {"submitted": 1}
