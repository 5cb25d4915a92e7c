"""The officers' worklist of dossiers, DossierSubmitted, the committee's decision date, actors and the audit trail."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from services.units import store
from shared.audit import verify_chain, verify_service_audit
from shared.contracts.events import DossierSubmitted
from shared.http import encode_cursor
from shared.testing import eventually
from tests.integration.units.test_units_cycle_api import YEAR, base, drive
from tests.integration.units.units_support import NOW, Harness


async def _worklist(h: Harness, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of GET /cycles, two items a page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await h.http.get("/cycles", headers=headers,
                             params={"year": YEAR, "limit": 2, **params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def test_worklist_lists_the_areas_dossiers_with_unit_names_and_what_each_awaits(units: Harness) -> None:
    h = units
    a = await h.create_unit(name="Công ty A", area_code="79.26743")
    b = await h.create_unit(name="Công ty B", area_code="79.26743")
    c = await h.create_unit(name="Công ty C", area_code="79.26743")
    other = await h.create_unit(name="Công ty D", area_code="79.26737")
    await drive(h, a["unit_id"], "submitted")
    await drive(h, b["unit_id"], "appraised")
    await drive(h, c["unit_id"], "in_progress")
    await drive(h, other["unit_id"], "submitted")
    commune = h.auth("officer", area="79.26743")

    items = await _worklist(h, commune)
    assert [(i["unit_name"], i["state"], i["awaits"]) for i in items] == [
        ("Công ty A", "submitted", "appraisal"), ("Công ty B", "appraised", "decision"),
        ("Công ty C", "in_progress", "self_assessment")]
    assert all(i["area_code"] == "79.26743" and i["year"] == YEAR for i in items)
    assert items[0]["submitted_at"] is not None

    awaiting = await _worklist(h, commune, awaits="appraisal")
    assert [i["unit_id"] for i in awaiting] == [a["unit_id"]]
    province = await _worklist(h, h.auth("officer", area="79"), awaits="appraisal")
    assert [i["unit_id"] for i in province] == [a["unit_id"], other["unit_id"]]
    assert [i["unit_id"] for i in await _worklist(h, commune, state="appraised")] == [b["unit_id"]]
    # An area filter outside the officer's own area finds nothing rather than widening the scope.
    assert await _worklist(h, commune, area_code="79.26737") == []
    own = await _worklist(h, h.auth("unit", unit=c["unit_id"]))
    assert [i["unit_id"] for i in own] == [c["unit_id"]]

    r = await h.http.get("/cycles", headers=commune, params={"awaits": "coffee"})
    assert r.status_code == 422 and r.json()["error"]["code"]
    r = await h.http.get("/cycles", headers=commune, params={"cursor": "not-a-cursor"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor", r.text
    assert (await h.http.get("/cycles")).status_code == 401


async def test_submitting_a_dossier_emits_dossier_submitted_with_the_units_area_and_name(units: Harness) -> None:
    h = units
    unit = await h.create_unit(name="Trường THPT Lê Quý Đôn", kind="school", area_code="79.26743")
    await drive(h, unit["unit_id"], "submitted")
    events = await h.events(DossierSubmitted.TYPE)
    assert [(e["unit_id"], e["year"], e["area_code"], e["unit_name"]) for e in events] == [
        (unit["unit_id"], YEAR, "79.26743", "Trường THPT Lê Quý Đôn")]


async def test_decision_keeps_the_committees_own_date_and_every_step_its_actor(units: Harness) -> None:
    h = units
    unit = await h.create_unit(area_code="79.26743")
    uid = unit["unit_id"]
    await drive(h, uid, "self_assessed")
    officer = h.auth("officer", area="79.26743")
    r = await h.http.post(f"{base(uid)}/appraisal", headers=officer, json={"recommended": True})
    assert r.status_code == 200, r.text
    h.clock.now = NOW + timedelta(days=9)  # recorded on 19 Feb, signed by the committee on 15 Feb
    decision = {"recognized": True, "decision_no": "12/QĐ-UBND"}
    for wrong in ("2026-02-20", "2026-02-01"):  # after the day of recording; before the appraisal
        r = await h.http.post(f"{base(uid)}/decision", headers=officer, json={**decision, "decided_on": wrong})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "decided_on", r.text
    r = await h.http.post(f"{base(uid)}/decision", headers=officer, json={**decision, "decided_on": "2026-02-15"})
    assert r.status_code == 200, r.text
    cycle = r.json()
    assert cycle["decision"]["decided_on"] == "2026-02-15"
    assert cycle["decision"]["decided_at"].startswith("2026-02-19")
    by_state = {s["state"]: s for s in cycle["history"]}
    assert by_state["registered"]["by"]["role"] == "admin"
    for state in ("submitted", "appraised", "recognised"):
        assert by_state[state]["by"]["role"] == "officer" and by_state[state]["by"]["area"] == "79.26743", state
    assert by_state["recognised"]["at"].startswith("2026-02-19")


async def test_the_audit_trail_records_each_cycle_command_with_its_actor_for_admins_and_verifies(
        units: Harness) -> None:
    h = units
    unit = await h.create_unit(area_code="79.26743")
    uid = unit["unit_id"]
    await drive(h, uid, "recognised")
    officer = h.auth("officer", area="79.26743")
    r = await h.http.post(f"{base(uid)}/revocation", headers=officer, json={"reason": "dossier was falsified"})
    assert r.status_code == 200, r.text

    r = await h.http.get("/audit", headers=h.admin, params={"unit_id": uid, "year": YEAR})
    assert r.status_code == 200, r.text
    entries = r.json()["items"]
    actions = [e["action"] for e in entries]
    assert actions[0] == "cycles.register" and actions[-3:] == ["cycles.appraise", "cycles.decide", "cycles.revoke"]
    assert "cycles.submit" in actions and "cycles.score" in actions
    revoke = entries[-1]
    assert (revoke["role"], revoke["details"]["actor_area"], revoke["details"]["state"]) == (
        "officer", "79.26743", "revoked")
    assert entries[-2]["details"]["decision_no"] == "123/QĐ-UBND"
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(entries))
    page = await h.http.get("/audit", headers=h.admin, params={"action": "cycles.decide", "limit": 1})
    assert [e["target"] for e in page.json()["items"]] == [f"{uid}/{YEAR}"]

    assert (await h.http.get("/audit", headers=officer)).status_code == 403
    assert (await h.http.get("/audit", headers=h.auth("agency"))).status_code == 403
    assert (await h.http.get("/audit", headers=h.admin, params={"year": YEAR})).status_code == 422

    async with h.service.db.read() as session:
        assert (await verify_chain(session, store.audit_log)).ok
    report = await verify_service_audit(h.service.settings, "units")  # what `antq audit verify units` runs
    assert report.ok and report.entries == len(actions)


async def test_a_recognition_revoked_by_an_incident_names_who_recorded_it_in_the_history_and_the_trail(
        units: Harness) -> None:
    h = units
    by_officer, by_agency = (await h.create_unit(area_code="79.26743"))["unit_id"], \
        (await h.create_unit(area_code="79.26743", external_key="MST-AUDIT-1"))["unit_id"]
    for uid in (by_officer, by_agency):
        await drive(h, uid, "recognised")
    officer = h.auth("officer", area="79.26743")
    r = await h.http.post(f"/units/{by_officer}/incidents", headers=officer,
                          json={"category": "illegal_strike", "occurred_at": "2026-02-05T08:00:00+07:00"})
    assert r.status_code == 201 and r.json()["revoked"], r.text
    await h.publish_inbound("police", "IncidentReported.v1", {
        "unit_external_key": "MST-AUDIT-1", "category": "illegal_strike",
        "occurred_at": "2026-02-05T08:00:00+07:00", "reference": "PC-2026-0042"})

    async def pending() -> list[dict[str, Any]]:
        r = await h.http.get(f"/units/{by_agency}/incidents", headers=h.admin, params={"status": "pending"})
        return list(r.json()["items"])

    # The agency's report waits for an officer (trusted agencies are covered in test_units_incident_review.py):
    # the officer who confirms it is the one who revoked the recognition.
    (reported,) = await eventually(pending, what="the agency's report recorded as pending")
    r = await h.http.post(f"/units/{by_agency}/incidents/{reported['incident_id']}/confirmation", headers=officer)
    assert r.status_code == 200 and r.json()["revoked"], r.text
    r = await h.http.get("/audit", headers=h.admin, params={"action": "incidents.create"})
    (first,) = r.json()["items"]
    assert first["target"] == f"{by_officer}/{YEAR}"
    assert (first["role"], first["details"]["before"], first["details"]["state"], first["details"]["category"]) == (
        "officer", "recognised", "revoked", "illegal_strike")
    r = await h.http.get("/audit", headers=h.admin, params={"action": "incidents.confirm"})
    (confirmed,) = r.json()["items"]
    assert (confirmed["target"], confirmed["role"], confirmed["details"]["before"], confirmed["details"]["state"]) == (
        f"{by_agency}/{YEAR}", "officer", "recognised", "revoked")
    agency_history = (await h.http.get(base(by_agency), headers=h.admin)).json()["history"]
    assert agency_history[-1]["state"] == "revoked" and agency_history[-1]["by"]["area"] == "79.26743"
    history = (await h.http.get(base(by_officer), headers=h.admin)).json()["history"]
    assert history[-1]["state"] == "revoked" and history[-1]["by"]["role"] == "officer"


async def _every_page(h: Harness, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a keyset-paged list, one item a page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        paging = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        r = await h.http.get(path, headers=h.admin, params={**params, **paging})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} does not end")


async def test_a_units_lists_page_by_their_keys_and_refuse_a_cursor_of_another_shape(units: Harness) -> None:
    h = units
    uid = (await h.create_unit())["unit_id"]
    for day in ("2026-01-07", "2026-01-05", "2026-01-06"):
        r = await h.http.post(f"/units/{uid}/activities", headers=h.admin,
                              json={"kind": "protection_plan", "held_on": day})
        assert r.status_code == 201, r.text
    assert (await h.http.patch(f"/units/{uid}", headers=h.admin, json={"address": "1 Lê Lợi"})).status_code == 200
    activities = await _every_page(h, f"/units/{uid}/activities")
    assert [a["held_on"] for a in activities] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    history = await _every_page(h, f"/units/{uid}/history")
    assert [e["action"] for e in history] == ["created", "updated"]
    # A cursor written before the lists shared one paging (a bare seq) still continues the history.
    rest = await h.http.get(f"/units/{uid}/history", headers=h.admin,
                            params={"cursor": encode_cursor(history[0]["seq"])})
    assert [e["seq"] for e in rest.json()["items"]] == [history[1]["seq"]]
    for path, cursor in ((f"/units/{uid}/activities", ["not-a-day", "x"]), (f"/units/{uid}/activities", [5, "x"]),
                         (f"/units/{uid}/history", "12"), (f"/units/{uid}/incidents", ["2026-01-05", 7]),
                         ("/audit", {"seq": 1}), ("/units", ["name"])):
        r = await h.http.get(path, headers=h.admin, params={"cursor": encode_cursor(cursor)})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor", (path, cursor, r.text)
