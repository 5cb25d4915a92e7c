"""The yearly ANTT cycle over HTTP: every step allowed and refused, late registration, framework versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.units.domain import ALLOWED, framework_in_force
from shared.contracts.events import (
    CertificationDenied,
    CertificationRevoked,
    CycleRegistered,
    UnitAppraised,
    UnitCertified,
    UnitSelfAssessed,
)
from tests.integration.units.units_support import Harness

YEAR = 2026
ART6 = [c.code for c in framework_in_force("enterprise", "79", datetime(2026, 2, 10).date()).scored_criteria]


def base(uid: str, year: int = YEAR) -> str:
    return f"/units/{uid}/cycles/{year}"


async def step(h: Harness, uid: str, command: str, year: int = YEAR, **body: Any) -> Any:
    """Send one cycle command; returns the response."""
    url = base(uid, year)
    if command == "register":
        return await h.http.post(url, headers=h.admin)
    if command == "record_criterion":
        return await h.http.put(f"{url}/criteria/{body.get('code', ART6[0])}", headers=h.admin,
                                json={"result": body.get("result", "met"), "evidence": ["minutes-2026-01.pdf"]})
    if command == "self_assess":
        return await h.http.post(f"{url}/self-assessment", headers=h.admin, json=body or None)
    if command == "submit":
        return await h.http.post(f"{url}/submit", headers=h.admin)
    if command == "appraise":
        return await h.http.post(f"{url}/appraisal", headers=h.admin,
                                 json={"recommended": body.get("recommended", True)})
    if command == "decide":
        recognized = body.get("recognized", True)
        return await h.http.post(f"{url}/decision", headers=h.admin, json={
            "recognized": recognized, "decision_no": body.get("decision_no", "123/QĐ-UBND" if recognized else None),
            "rating": body.get("rating")})
    if command == "revoke":
        return await h.http.post(f"{url}/revocation", headers=h.admin, json={"reason": "dossier was falsified"})
    raise AssertionError(command)


async def scored_codes(h: Harness, uid: str, year: int = YEAR) -> list[str]:
    """The hand-scored criteria of the framework the unit's cycle is assessed against."""
    cycle = (await h.http.get(base(uid, year), headers=h.admin)).json()
    framework = (await h.http.get(f"/frameworks/{cycle['framework_code']}", params={"kind": cycle["kind"]})).json()
    return [c["code"] for c in framework["criteria"] if c["derived"] is None]


async def drive(h: Harness, uid: str, target: str, year: int = YEAR) -> None:
    """Move a unit's cycle through the allowed steps to `target`."""
    path = {
        "registered": ["register"],
        "in_progress": ["register", "record_criterion"],
        "self_assessed": ["register", "scored", "self_assess"],
        "submitted": ["register", "scored", "self_assess", "submit"],
        "appraised": ["register", "scored", "self_assess", "submit", "appraise"],
        "recognised": ["register", "scored", "self_assess", "submit", "appraise", "decide"],
        "not_recognised": ["register", "scored", "self_assess", "submit", "appraise", "deny"],
        "revoked": ["register", "scored", "self_assess", "submit", "appraise", "decide", "revoke"],
    }[target]
    for command in path:
        if command == "scored":
            for code in await scored_codes(h, uid, year):
                r = await step(h, uid, "record_criterion", year, code=code)
                assert r.status_code == 200, r.text
            continue
        r = await (step(h, uid, "decide", year, recognized=False) if command == "deny"
                   else step(h, uid, command, year))
        assert r.status_code in (200, 201), (command, r.text)
    assert r.json()["state"] == target


async def test_a_unit_goes_from_registration_to_recognition_with_every_event(units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    r = await step(units, uid, "register")
    assert r.status_code == 201 and r.json()["state"] == "registered" and r.json()["late"] is False
    assert sorted(r.json()["next_steps"]) == ["record_criterion", "self_assess"]
    assert "P79@" in r.json()["framework_code"]
    missing = await step(units, uid, "self_assess")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "criteria_missing"
    for code in ART6[:-1]:
        assert (await step(units, uid, "record_criterion", code=code)).json()["state"] == "in_progress"
    derived = await step(units, uid, "record_criterion", code="A6.5")
    assert derived.status_code == 422  # follows from incidents
    unknown = await step(units, uid, "record_criterion", code="Z9")
    assert unknown.status_code == 404
    r = await step(units, uid, "self_assess", results={ART6[-1]: {"result": "met", "note": "cameras installed"}})
    assert r.status_code == 200, r.text
    assessed = r.json()
    assert assessed["state"] == "self_assessed" and assessed["criteria"]["A6.5"]["derived"] is True
    assert (await step(units, uid, "submit")).json()["state"] == "submitted"
    assert (await step(units, uid, "appraise")).json()["state"] == "appraised"
    r = await step(units, uid, "decide", rating="good")
    assert r.status_code == 200 and r.json()["state"] == "recognised" and r.json()["next_steps"] == ["revoke"]
    got = await units.http.get(base(uid), headers=units.admin)
    assert got.json()["decision"]["decision_no"] == "123/QĐ-UBND"
    assert (await units.http.get(f"/units/{uid}/cycles", headers=units.admin)).json()[0]["state"] == "recognised"

    registered = await units.events(CycleRegistered.TYPE)
    assert [(e["unit_id"], e["year"], e["late"]) for e in registered] == [(uid, YEAR, False)]
    criteria_total = len(ART6) + 1
    assert await units.events(UnitSelfAssessed.TYPE) == [
        {"unit_id": uid, "year": YEAR, "criteria_met": criteria_total, "criteria_total": criteria_total}]
    assert await units.events(UnitAppraised.TYPE) == [{"unit_id": uid, "year": YEAR, "recommended": True}]
    certified = await units.events(UnitCertified.TYPE)
    assert len(certified) == 1
    assert {k: certified[0][k] for k in ("unit_id", "year", "rating", "decision_no", "decided_by_level",
                                          "consecutive_years")} == {
        "unit_id": uid, "year": YEAR, "rating": "good", "decision_no": "123/QĐ-UBND", "decided_by_level": "commune",
        "consecutive_years": 1}


async def test_the_contract_path_self_assessment_appraisal_decision(units: Harness) -> None:
    """The contract's steps without the optional `submit`: appraising a self-assessed cycle submits it too."""
    uid = (await units.create_unit())["unit_id"]
    await drive(units, uid, "self_assessed")
    r = await step(units, uid, "appraise")
    assert r.status_code == 200, r.text
    assert [s["state"] for s in r.json()["history"]][-2:] == ["submitted", "appraised"]
    assert r.json()["submitted_at"] == r.json()["appraisal"]["appraised_at"]
    assert (await step(units, uid, "decide")).json()["state"] == "recognised"


async def test_a_unit_that_missed_a_criterion_cannot_be_recommended_or_recognised(units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    await step(units, uid, "register")
    r = await step(units, uid, "self_assess", results={
        code: {"result": "not_met" if code == ART6[-1] else "met"} for code in ART6})
    assert r.status_code == 200 and r.json()["criteria_met"] == r.json()["criteria_total"] - 1, r.text
    refused = await step(units, uid, "appraise", recommended=True)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "criteria_not_met"
    assert refused.json()["error"]["details"]["criteria"] == [ART6[-1]]
    assert (await step(units, uid, "appraise", recommended=False)).json()["state"] == "appraised"
    assert (await step(units, uid, "decide")).status_code == 409  # not recommended, and a criterion not met
    denied = await step(units, uid, "decide", recognized=False)
    assert denied.json()["state"] == "not_recognised"
    assert f"criterion_not_met:{ART6[-1]}" in denied.json()["decision"]["reasons"]


async def test_a_commune_officer_cannot_decide_for_a_province_managed_unit(units: Harness) -> None:
    """The People's Committee at the managing level decides: a province unit by the province."""
    unit = await units.create_unit(managing_level="province")
    uid = unit["unit_id"]
    await drive(units, uid, "appraised")
    commune = units.auth("officer", area=unit["area_code"])
    province = units.auth("officer", area=unit["area_code"].split(".")[0])
    body = {"recognized": True, "decision_no": "9/QĐ-UBND"}
    r = await units.http.post(f"{base(uid)}/decision", headers=commune, json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_deciding_level", r.text
    r = await units.http.post(f"{base(uid)}/decision", headers=province, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["level"] == "province"
    certified = await units.events(UnitCertified.TYPE)
    assert [e["decided_by_level"] for e in certified if e["unit_id"] == uid] == ["province"]


COMMANDS = ["register", "record_criterion", "self_assess", "submit", "appraise", "decide", "revoke"]


async def test_every_step_not_allowed_from_a_state_is_409_with_the_allowed_steps(units: Harness) -> None:
    refused = 0
    for state, allowed_steps in ALLOWED.items():
        uid = (await units.create_unit())["unit_id"]
        await drive(units, uid, state)
        allowed = sorted(allowed_steps)
        for command in COMMANDS:
            if command in allowed:
                continue
            r = await step(units, uid, command)
            assert r.status_code == 409, (state, command, r.text)
            error = r.json()["error"]
            assert error["code"] == "illegal_transition", (state, command, error)
            assert error["details"]["allowed"] == allowed and error["details"]["state"] == state
            refused += 1
    assert refused == sum(len(COMMANDS) - len(a) for a in ALLOWED.values())


async def test_steps_on_a_year_without_cycle_are_404_naming_registration(units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    for command in COMMANDS[1:]:
        r = await step(units, uid, command)
        assert r.status_code == 404, (command, r.text)
        assert r.json()["error"]["details"]["allowed"] == ["register"]
    assert (await units.http.get(base(uid), headers=units.admin)).status_code == 404


async def test_registration_after_march_is_late_and_closed_years_or_out_of_scope_units_are_refused(
        units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    units.clock.now = datetime(2026, 4, 2, 3, 0, tzinfo=UTC)
    r = await step(units, uid, "register")
    assert r.status_code == 201 and r.json()["late"] is True
    closed = await step(units, uid, "register", year=2025)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "year_closed"
    not_open = await step(units, uid, "register", year=2028)
    assert not_open.status_code == 409 and not_open.json()["error"]["code"] == "year_not_open"
    micro = (await units.create_unit(size="micro"))["unit_id"]
    out = await step(units, micro, "register")
    assert out.status_code == 409 and out.json()["error"]["code"] == "out_of_scope"
    events = await units.events(CycleRegistered.TYPE)
    assert [e["late"] for e in events] == [True]


async def test_decisions_need_a_number_and_a_recommendation_and_denials_give_reasons(units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    await drive(units, uid, "submitted")
    assert (await step(units, uid, "appraise", recommended=False)).status_code == 200
    refused = await step(units, uid, "decide")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_recommended"
    no_number = await step(units, uid, "decide", decision_no="")
    assert no_number.status_code == 422
    denied = await step(units, uid, "decide", recognized=False)
    assert denied.status_code == 200 and denied.json()["state"] == "not_recognised"
    events = await units.events(CertificationDenied.TYPE)
    assert events == [{"unit_id": uid, "year": YEAR, "reasons": ["appraisal:not_recommended"]}]


async def test_consecutive_years_come_from_history_and_a_revoked_year_breaks_the_run(units: Harness) -> None:
    steady = (await units.create_unit())["unit_id"]
    broken = (await units.create_unit())["unit_id"]
    units.clock.now = datetime(2025, 2, 1, 3, 0, tzinfo=UTC)
    await drive(units, steady, "recognised", year=2025)
    await drive(units, broken, "revoked", year=2025)
    units.clock.now = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
    await drive(units, steady, "recognised")
    await drive(units, broken, "recognised")
    certified = {(e["unit_id"], e["year"]): e["consecutive_years"] for e in await units.events(UnitCertified.TYPE)}
    assert certified == {(steady, 2025): 1, (broken, 2025): 1, (steady, 2026): 2, (broken, 2026): 1}
    revoked = await units.events(CertificationRevoked.TYPE)
    assert revoked == [{"unit_id": broken, "year": 2025, "reason": "dossier was falsified"}]


async def test_a_cycle_keeps_the_framework_in_force_when_it_was_registered(units: Harness) -> None:
    early = (await units.create_unit())["unit_id"]
    late = (await units.create_unit())["unit_id"]
    units.clock.now = datetime(2024, 12, 1, 3, 0, tzinfo=UTC)
    r = await step(units, early, "register", year=2025)
    assert r.json()["framework_code"].endswith("+P79@2023-01-01")
    units.clock.now = datetime(2025, 8, 1, 3, 0, tzinfo=UTC)
    r = await step(units, late, "register", year=2025)
    assert r.status_code == 201 and r.json()["framework_code"].endswith("+P79@2025-07-01")
    assert r.json()["late"] is True
    # The overlay of July 2025 added 79.3; the cycle registered before it is not assessed on it.
    assert (await step(units, early, "record_criterion", year=2025, code="79.3")).status_code == 404
    assert (await step(units, late, "record_criterion", year=2025, code="79.3")).status_code == 200
    for code in ("A6.1", "A6.2", "A6.3", "A6.4", "79.1", "79.2"):
        assert (await step(units, early, "record_criterion", year=2025, code=code)).status_code == 200
    assessed = await step(units, early, "self_assess", year=2025)
    assert assessed.status_code == 200 and assessed.json()["criteria_total"] == 7
    old = await units.http.get(f"/frameworks/{assessed.json()['framework_code']}", params={"kind": "enterprise"})
    assert old.status_code == 200 and "79.3" not in [c["code"] for c in old.json()["criteria"]]
    listing = (await units.http.get("/frameworks")).json()
    codes = [f["code"] for f in listing["items"]]
    assert "P79@2023-01-01" in codes and "P79@2025-07-01" in codes
    assert any(c["code"] == "illegal_strike" and c["disqualifying"]
               for c in listing["incident_categories"]["tt124-2021"])
    in_force = await units.http.get("/frameworks/in-force", params={"kind": "school", "area_code": "79.26743",
                                                                     "on": "2026-01-01"})
    assert in_force.status_code == 200 and in_force.json()["code"].startswith("TT124-2021/art7")
    assert (await units.http.get("/frameworks/nope")).status_code == 404


async def test_unit_staff_score_their_own_cycle_but_cannot_appraise_or_touch_another(units: Harness) -> None:
    mine = (await units.create_unit())["unit_id"]
    other = (await units.create_unit())["unit_id"]
    staff = units.auth("unit", unit=mine)
    assert (await units.http.post(base(mine), headers=staff)).status_code == 201
    assert (await units.http.post(base(other), headers=staff)).status_code == 403
    for code in ART6:
        r = await units.http.put(f"{base(mine)}/criteria/{code}", headers=staff, json={"result": "met"})
        assert r.status_code == 200
    assert (await units.http.post(f"{base(mine)}/self-assessment", headers=staff)).status_code == 200
    assert (await units.http.post(f"{base(mine)}/submit", headers=staff)).status_code == 200
    r = await units.http.post(f"{base(mine)}/appraisal", headers=staff, json={"recommended": True})
    assert r.status_code == 403
    officer_elsewhere = units.auth("officer", area="79.26737")
    r = await units.http.post(f"{base(mine)}/appraisal", headers=officer_elsewhere, json={"recommended": True})
    assert r.status_code == 403
    r = await units.http.post(f"{base(mine)}/appraisal", headers=units.auth("officer", area="79"),
                              json={"recommended": True})
    assert r.status_code == 200
    assert (await units.http.get(base(mine), headers=units.auth("agency"))).status_code == 200
