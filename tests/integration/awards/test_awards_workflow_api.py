"""The approval workflow over HTTP: every transition allowed and refused, scopes, quotas, nominations, deadlines."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from services.awards import store
from services.awards.policy import POLICY
from shared.audit import verify_chain
from shared.policy import Rule
from shared.testing import eventually
from tests.integration.awards.awards_helpers import Awards, drained, qualify, registered


def _person() -> str:
    return f"staff-{uuid.uuid4().hex[:8]}"


async def _nominate(awards: Awards, headers: dict[str, str] | None = None, **overrides: Any) -> dict:
    body: dict[str, Any] = {"award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": _person(),
                            "recipient_name": "Nguyễn Văn An", "year": 2026, "area_code": "01.00004",
                            "evidence": ["QĐ 15/2026 khen thưởng đột xuất"]}
    body.update(overrides)
    r = await awards.http.post("/awards", json=body, headers=headers or awards.token("officer", area="01"))
    assert r.status_code == 201, r.text
    return r.json()


async def _step(awards: Awards, award_id: str, action: str, body: dict | None = None,
                headers: dict[str, str] | None = None) -> Any:
    return await awards.http.post(f"/awards/{award_id}/{action}", json=body,
                                  headers=headers or awards.token("admin"))


async def test_the_happy_path_is_audited_step_by_step(awards: Awards) -> None:
    created = await _nominate(awards)
    award_id = created["award_id"]
    assert created["status"] == "proposed" and created["level"] == "unit" and created["origin"] == "nomination"
    assert created["allowed_actions"] == ["approve", "reject", "review"]
    officer = awards.token("officer", area="01", sub="can-bo-pc06")
    assert (await _step(awards, award_id, "review", {"note": "hồ sơ đầy đủ"}, officer)).json()["status"] == "reviewed"
    approved = (await _step(awards, award_id, "approve", {"decision_no": "7/QĐ-CAT"}, officer)).json()
    assert (approved["status"], approved["decision_no"], approved["approved_by_level"]) == (
        "approved", "7/QĐ-CAT", "unit")
    granted = (await _step(awards, award_id, "grant", None, officer)).json()
    assert granted["status"] == "granted" and granted["certificate_id"]
    annulled = (await _step(awards, award_id, "annul", {"reason": "hồ sơ gian dối"}, officer)).json()
    assert annulled["status"] == "annulled" and annulled["reason"] == "hồ sơ gian dối"
    assert annulled["allowed_actions"] == []

    trail = annulled["audit"]
    assert [s["action"] for s in trail] == ["award.propose", "award.review", "award.approve", "award.grant",
                                            "award.annul"]
    assert {s["actor"] for s in trail[1:]} == {"can-bo-pc06"}
    assert trail[1]["reason"] == "hồ sơ đầy đủ" and trail[4]["reason"] == "hồ sơ gian dối"
    assert trail[2]["details"]["decision_no"] == "7/QĐ-CAT"
    assert all(s["details"]["events"] for s in trail if s["action"] != "award.review")
    async with awards.service.db.read() as session:
        report = await verify_chain(session, store.audit_log)
    assert report.ok and report.entries >= 5

    async def emitted() -> list[str]:
        return [e["type"].split(".")[2] for e in await awards.bus.events() if e["data"]["award_id"] == award_id]

    await eventually(lambda: _has(emitted, ["AwardProposed", "AwardApproved", "AwardGranted", "AwardAnnulled"]),
                     what="the award's events on the stream")


async def _has(fetch: Any, wanted: list[str]) -> bool:
    return list(await fetch()) == wanted


async def test_illegal_transitions_are_refused_with_the_allowed_steps(awards: Awards) -> None:
    award_id = (await _nominate(awards))["award_id"]
    for action, body in (("grant", None), ("annul", {"reason": "x"})):
        r = await _step(awards, award_id, action, body)
        assert r.status_code == 409, (action, r.text)
        assert r.json()["error"]["code"] == "illegal_transition"
        assert r.json()["error"]["details"]["allowed"] == ["approve", "reject", "review"]
    assert (await _step(awards, award_id, "review")).status_code == 200
    assert (await _step(awards, award_id, "review")).status_code == 409
    assert (await _step(awards, award_id, "grant")).status_code == 409
    assert (await _step(awards, award_id, "approve", {})).status_code == 422  # decision_no is required
    assert (await _step(awards, award_id, "approve", {"decision_no": "   "})).status_code == 422
    assert (await _step(awards, award_id, "approve", {"decision_no": "1", "level": "province"})).status_code == 403
    assert (await _step(awards, award_id, "approve", {"decision_no": "1/QĐ"})).status_code == 200
    assert (await _step(awards, award_id, "reject", {"reason": "late"})).status_code == 409
    assert (await _step(awards, award_id, "approve", {"decision_no": "2/QĐ"})).status_code == 409

    rejected = (await _nominate(awards))["award_id"]
    assert (await _step(awards, rejected, "reject", {"reason": ""})).status_code == 422
    r = await _step(awards, rejected, "reject", {"reason": "thiếu minh chứng"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    for action, body in (("review", None), ("approve", {"decision_no": "1"}), ("grant", None),
                         ("annul", {"reason": "x"}), ("reject", {"reason": "again"})):
        assert (await _step(awards, rejected, action, body)).status_code == 409, action
    assert (await _step(awards, str(uuid.uuid4()), "review")).status_code == 404


async def test_roles_and_areas_are_enforced(awards: Awards) -> None:
    award_id = (await _nominate(awards))["award_id"]
    assert (await awards.http.get("/awards")).status_code == 401
    assert (await awards.http.post(f"/awards/{award_id}/review")).status_code == 401
    other_province = awards.token("officer", area="79")
    assert (await awards.http.get(f"/awards/{award_id}", headers=other_province)).status_code == 403
    assert (await _step(awards, award_id, "review", None, other_province)).status_code == 403
    listed = (await awards.http.get("/awards", headers=other_province)).json()["items"]
    assert award_id not in [a["award_id"] for a in listed]
    assert (await awards.http.get("/awards", params={"area_code": "01"}, headers=other_province)).status_code == 403
    for role, kw in (("unit", {"unit": "u-1"}), ("agency", {})):
        assert (await _step(awards, award_id, "review", None, awards.token(role, **kw))).status_code == 403
    r = await awards.http.post("/awards", json={"award_type": "giay_khen", "recipient_kind": "person",
                                                "recipient_ref": "x", "year": 2026, "area_code": "79.26743"},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 403

    commune = awards.token("officer", area="01.00004")
    assert (await awards.http.get(f"/awards/{award_id}", headers=commune)).status_code == 200
    medal_level = (await _nominate(awards, award_type="bang_khen_province"))["award_id"]
    assert (await _step(awards, medal_level, "review", None, commune)).status_code == 200
    r = await _step(awards, medal_level, "approve", {"decision_no": "9/QĐ"}, commune)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_level"
    province = awards.token("officer", area="01")
    assert (await _step(awards, medal_level, "approve", {"decision_no": "9/QĐ"}, province)).status_code == 200


async def test_quota_is_enforced_at_approval_per_province(awards: Awards) -> None:
    # bang_khen_mps: national quota of 5 per province and year, decided at the ministry (an unscoped token).
    ministry = awards.token("officer")
    ids = []
    for _ in range(6):
        award_id = (await _nominate(awards, award_type="bang_khen_mps"))["award_id"]
        assert (await _step(awards, award_id, "review", None, ministry)).status_code == 200
        ids.append(award_id)
    for award_id in ids[:5]:
        assert (await _step(awards, award_id, "approve", {"decision_no": "QĐ-BCA"}, ministry)).status_code == 200
    r = await _step(awards, ids[5], "approve", {"decision_no": "QĐ-BCA"}, ministry)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "quota_exceeded"
    assert r.json()["error"]["details"] == {"award_type": "bang_khen_mps", "year": 2026, "used": 5, "quota": 5}
    # Another province has its own quota; another year too.
    elsewhere = (await _nominate(awards, ministry, award_type="bang_khen_mps", area_code="04.01273"))[
        "award_id"]
    await _step(awards, elsewhere, "review", None, ministry)
    assert (await _step(awards, elsewhere, "approve", {"decision_no": "QĐ-BCA"}, ministry)).status_code == 200
    # An annulment frees a place.
    assert (await _step(awards, ids[0], "annul", {"reason": "gian lận"}, ministry)).status_code == 200
    assert (await _step(awards, ids[5], "approve", {"decision_no": "QĐ-BCA"}, ministry)).status_code == 200


async def test_medal_nomination_needs_years_of_service_and_is_once_per_person(awards: Awards) -> None:
    person = _person()
    medal: dict[str, Any] = {"award_type": "ky_niem_chuong", "recipient_ref": person,
                             "category": "security_team_member", "gender": "male",
                             "evidence": ["Sổ theo dõi tổ bảo vệ 2008-2026"]}
    fourteen = (date.today() - timedelta(days=365 * 14 + 10)).isoformat()
    r = await awards.http.post("/awards", json={**_base(), **medal, "service_started_on": fourteen},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_eligible"
    sixteen = (date.today() - timedelta(days=365 * 16)).isoformat()
    created = await _nominate(awards, **medal, service_started_on=sixteen)
    assert created["level"] == "ministry" and created["evidence"] == medal["evidence"]
    assert created["nomination"]["category"] == "security_team_member"
    r = await awards.http.post("/awards", json={**_base(), **medal, "service_started_on": sixteen, "year": 2027},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_awarded"
    r = await awards.http.post("/awards", json={**_base(), **medal, "service_started_on": sixteen,
                                                "recipient_ref": _person(), "standing": ["prosecuted"]},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "barred"
    r = await awards.http.post("/awards", json={**_base(), "recipient_kind": "reporter"},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 422
    r = await awards.http.post("/awards", json={**_base(), "award_type": "no_such_award"},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 404


def _base() -> dict[str, Any]:
    return {"award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": _person(), "year": 2026,
            "area_code": "01.00004"}


async def test_overdue_reviews_are_marked_and_listed(awards: Awards) -> None:
    pending = (await _nominate(awards))["award_id"]  # level "unit": 15 days to decide
    decided = (await _nominate(awards))["award_id"]
    await _step(awards, decided, "reject", {"reason": "không đủ điều kiện"})
    admin = awards.token("admin")
    assert (await awards.http.get("/awards", params={"overdue": "true"}, headers=admin)).json()["items"] == []
    real_clock = awards.service.clock
    awards.service.clock = lambda: real_clock() + timedelta(days=16)

    async def overdue() -> list[str]:
        items = (await awards.http.get("/awards", params={"overdue": "true"}, headers=admin)).json()["items"]
        return [a["award_id"] for a in items]

    assert await eventually(overdue, what="the overdue list") == [pending]

    async def marked() -> list[dict]:
        trail = (await awards.http.get(f"/awards/{pending}", headers=admin)).json()["audit"]
        return [s for s in trail if s["action"] == "award.review_overdue"]

    entries = await eventually(marked, what="the overdue mark in the audit trail")
    assert entries[0]["actor"] == "system" and entries[0]["details"]["level"] == "unit"
    assert (await awards.http.get(f"/awards/{pending}", headers=admin)).json()["overdue"] is True
    await _step(awards, pending, "review")
    assert await overdue() == [pending]  # still waiting for a decision past the deadline
    assert len(await marked()) == 1  # marked once


async def test_stats_and_metrics_count_awards_by_type_level_area_and_year(awards: Awards) -> None:
    ids = [(await _nominate(awards, year=2025))["award_id"] for _ in range(3)]
    await _nominate(awards, year=2025, area_code="79.26743", headers=awards.token("admin"))
    await _step(awards, ids[0], "review")
    await _step(awards, ids[0], "approve", {"decision_no": "1"})
    await _step(awards, ids[0], "grant")
    await _step(awards, ids[1], "reject", {"reason": "thiếu hồ sơ"})
    r = await awards.http.get("/stats", params={"year": 2025}, headers=awards.token("officer", area="01"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["area_code"] == "01"
    assert body["totals"] == {"proposed": 3, "pending": 1, "approved": 1, "granted": 1, "rejected": 1,
                              "annulled": 0, "held": 0}
    assert body["by_type"]["giay_khen"]["proposed"] == 3 and body["by_level"]["unit"]["granted"] == 1
    assert body["by_area"]["01.00004"]["proposed"] == 3 and body["by_year"]["2025"]["proposed"] == 3
    everything = (await awards.http.get("/stats", params={"year": 2025}, headers=awards.token("admin"))).json()
    assert everything["totals"]["proposed"] == 4
    assert (await awards.http.get("/stats", params={"area_code": "79"},
                                  headers=awards.token("officer", area="01"))).status_code == 403
    assert (await awards.http.get("/stats", headers=awards.token("unit", unit="u-1"))).status_code == 403

    async def gauge() -> bool:
        text = (await awards.http.get("/metrics")).text
        return 'antq_awards_awards{award_type="giay_khen",status="granted"} 1.0' in text

    await eventually(gauge, what="the awards gauge")


# --- the contract's propose → approve, without an explicit review ---------------------------------------------------
async def test_a_proposal_is_approved_directly_and_the_review_is_recorded_with_it(awards: Awards) -> None:
    award_id = (await _nominate(awards))["award_id"]
    officer = awards.token("officer", area="01", sub="can-bo-pc06")
    r = await _step(awards, award_id, "approve", {"decision_no": "8/QĐ-CAT", "note": "đủ điều kiện"}, officer)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert (approved["status"], approved["decision_no"], approved["approved_by_level"]) == (
        "approved", "8/QĐ-CAT", "unit")
    assert approved["reviewed_at"] is not None and approved["reviewed_at"] == approved["approved_at"]
    trail = approved["audit"]
    assert [(s["action"], s["details"]["from"], s["details"]["to"]) for s in trail] == [
        ("award.propose", None, "proposed"), ("award.review", "proposed", "reviewed"),
        ("award.approve", "reviewed", "approved")]
    assert trail[1]["actor"] == trail[2]["actor"] == "can-bo-pc06" and trail[1]["at"] == trail[2]["at"]
    assert trail[1]["details"]["implied_by"] == "approve" and "events" not in trail[1]["details"]
    assert trail[2]["reason"] == "đủ điều kiện" and trail[2]["details"]["decision_no"] == "8/QĐ-CAT"
    async with awards.service.db.read() as session:
        assert (await verify_chain(session, store.audit_log)).ok
    assert (await _step(awards, award_id, "grant", None, officer)).json()["status"] == "granted"

    async def emitted() -> list[str]:
        return [e["type"].split(".")[2] for e in await awards.bus.events() if e["data"]["award_id"] == award_id]

    await eventually(lambda: _has(emitted, ["AwardProposed", "AwardApproved", "AwardGranted"]),
                     what="the award's events on the stream")
    # The explicit review stays available and the two-step path is unchanged.
    other = (await _nominate(awards))["award_id"]
    assert (await _step(awards, other, "review", None, officer)).json()["allowed_actions"] == ["approve", "reject"]
    twice = (await _step(awards, other, "approve", {"decision_no": "9/QĐ-CAT"}, officer)).json()
    assert [s["action"] for s in twice["audit"]] == ["award.propose", "award.review", "award.approve"]
    assert "implied_by" not in twice["audit"][1]["details"]


async def test_approving_a_proposal_needs_the_right_to_review_it_too(awards: Awards, monkeypatch: Any) -> None:
    # Level checks apply as before: a commune-scoped officer cannot approve a provincial award, reviewed or not.
    commune = awards.token("officer", area="01.00004")
    provincial = (await _nominate(awards, award_type="bang_khen_province"))["award_id"]
    r = await _step(awards, provincial, "approve", {"decision_no": "9/QĐ"}, commune)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_level"
    # With reviewing reserved to admins, an officer may approve a reviewed award but not an unreviewed one.
    monkeypatch.setitem(POLICY.rules, "awards.review", Rule("awards.review", {"admin": "any"}))
    officer = awards.token("officer", area="01")
    unreviewed, reviewed = (await _nominate(awards))["award_id"], (await _nominate(awards))["award_id"]
    assert (await _step(awards, reviewed, "review")).status_code == 200  # as admin
    r = await _step(awards, unreviewed, "approve", {"decision_no": "10/QĐ"}, officer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"
    assert (await _step(awards, unreviewed, "approve", {"decision_no": "10/QĐ"})).status_code == 200  # admin
    assert (await _step(awards, reviewed, "approve", {"decision_no": "11/QĐ"}, officer)).status_code == 200
    # An officer of another area may neither review nor approve.
    outside = (await _nominate(awards))["award_id"]
    r = await _step(awards, outside, "approve", {"decision_no": "12/QĐ"}, awards.token("officer", area="79"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_scope"


# --- manual nomination without area_code -----------------------------------------------------------------------------
async def test_a_nomination_without_area_takes_the_area_the_service_knows(awards: Awards) -> None:
    unit = f"u-{uuid.uuid4().hex[:8]}"
    await awards.bus.publish(registered(unit, "01.00004"))
    await qualify(awards.bus, unit, 2024, 2026)
    await drained(awards.service)
    body = {"award_type": "giay_khen", "recipient_kind": "unit", "recipient_ref": unit, "year": 2026,
            "proposer": "commune"}
    r = await awards.http.post("/awards", json=body, headers=awards.token("officer", area="79"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_scope"  # authorised on the unit's area
    r = await awards.http.post("/awards", json=body, headers=awards.token("officer", area="01.00004"))
    assert r.status_code == 201, r.text
    assert (r.json()["area_code"], r.json()["province_code"]) == ("01.00004", "01")

    person = _person()
    r = await awards.http.post("/awards", json={**_base(), "recipient_ref": person, "area_code": None},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "area_code_required" and error["details"]["field"] == "area_code"
    assert "area_code" in error["message"]
    await _nominate(awards, recipient_ref=person, area_code="01.00004", year=2025)
    r = await awards.http.post("/awards", json={**_base(), "recipient_ref": person, "year": 2026, "area_code": None},
                               headers=awards.token("officer", area="01"))
    assert r.status_code == 201 and r.json()["area_code"] == "01.00004"  # the area of the person's latest award
    r = await awards.http.post("/awards", json={**_base(), "recipient_ref": person, "year": 2027, "area_code": None},
                               headers=awards.token("officer", area="79"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_scope"


# --- years of service on the Vietnamese calendar --------------------------------------------------------------------
async def test_years_of_service_are_counted_to_today_in_vietnam(awards: Awards) -> None:
    # 01:00 on 1 January 2026 in Vietnam (still 31 December 2025 in UTC): a woman who started on 1 January 2016
    # has served ten full years, enough for the medal as a security-team member.
    awards.service.clock = lambda: datetime(2025, 12, 31, 18, 0, tzinfo=UTC)
    r = await awards.http.post("/awards", json={
        **_base(), "award_type": "ky_niem_chuong", "category": "security_team_member", "gender": "female",
        "service_started_on": "2016-01-01", "evidence": ["QĐ thành lập tổ bảo vệ 2016"]},
        headers=awards.token("officer"))
    assert r.status_code == 201, r.text
    assert r.json()["proposed_at"].startswith("2025-12-31T18:00")


# --- barred / deferred re-checked at approval -------------------------------------------------------------------------
async def _medal(awards: Awards) -> str:
    sixteen = (date.today() - timedelta(days=365 * 16)).isoformat()
    return (await _nominate(awards, awards.token("officer"), award_type="ky_niem_chuong",
                            category="security_team_member", gender="male", service_started_on=sixteen,
                            evidence=["Sổ theo dõi tổ bảo vệ"]))["award_id"]


async def test_approval_refuses_a_person_now_prosecuted_or_disciplined(awards: Awards) -> None:
    ministry = awards.token("officer")
    award_id = await _medal(awards)
    r = await _step(awards, award_id, "approve", {"decision_no": "QĐ-BCA", "standing": ["prosecuted"]}, ministry)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "barred" and r.json()["error"]["details"]["standing"] == ["prosecuted"]
    await _step(awards, award_id, "review", None, ministry)
    r = await _step(awards, award_id, "approve", {"decision_no": "QĐ-BCA", "standing": ["disciplined"]}, ministry)
    assert r.status_code == 409 and r.json()["error"]["code"] == "deferred"
    detail = (await awards.http.get(f"/awards/{award_id}", headers=ministry)).json()
    assert detail["status"] == "reviewed" and [s["action"] for s in detail["audit"]] == [
        "award.propose", "award.review"]
    r = await _step(awards, award_id, "approve", {"decision_no": "QĐ-BCA", "standing": []}, ministry)
    assert r.status_code == 200 and r.json()["audit"][-1]["details"]["standing"] == []

    # Without a stated standing, the standing recorded with the nomination is checked again (here it was
    # corrected in the dossier after the nomination).
    later = await _medal(awards)
    async with awards.service.db.unit_of_work() as uow:
        t = store.awards
        row = (await uow.session.execute(select(t.c.nomination).where(t.c.award_id == later))).scalar_one()
        facts = {**json.loads(row), "standing": ["disciplined"]}
        await uow.session.execute(update(t).where(t.c.award_id == later).values(nomination=json.dumps(facts)))
    r = await _step(awards, later, "approve", {"decision_no": "QĐ-BCA"}, ministry)
    assert r.status_code == 409 and r.json()["error"]["code"] == "deferred"
    # A person's award whose type has no individual rule (a Giấy khen) is not held up by it.
    plain = (await _nominate(awards))["award_id"]
    assert (await _step(awards, plain, "approve", {"decision_no": "1", "standing": ["disciplined"]})).status_code \
        == 200


# --- figures: current status, collectives and individuals ----------------------------------------------------------
async def test_stats_count_by_current_status_and_split_collectives_from_individuals(awards: Awards) -> None:
    admin = awards.token("admin")
    people = [(await _nominate(awards, year=2024))["award_id"] for _ in range(3)]
    unit_id = f"u-{uuid.uuid4().hex[:6]}"
    await awards.bus.publish(registered(unit_id, "01.00004"))  # a unit's area comes from its registration
    await qualify(awards.bus, unit_id, 2022, 2024)
    await drained(awards.service)
    unit = (await _nominate(awards, year=2024, recipient_kind="unit", recipient_ref=unit_id,
                            proposer="commune"))["award_id"]
    for action, body in (("review", None), ("approve", {"decision_no": "1"}), ("grant", None),
                         ("annul", {"reason": "gian dối"})):
        assert (await _step(awards, people[0], action, body)).status_code == 200
    for award_id, decision in ((people[1], "2"), (unit, "3")):
        await _step(awards, award_id, "review")
        assert (await _step(awards, award_id, "approve", {"decision_no": decision})).status_code == 200
    assert (await _step(awards, unit, "grant")).status_code == 200
    body = (await awards.http.get("/stats", params={"year": 2024}, headers=admin)).json()
    # The annulled award is no longer commended: neither approved nor granted.
    assert body["totals"] == {"proposed": 4, "pending": 1, "approved": 2, "granted": 1, "rejected": 0,
                              "annulled": 1, "held": 0}
    assert body["by_type"]["giay_khen"]["approved"] == 2 and body["by_year"]["2024"]["granted"] == 1
    assert body["by_recipient_kind"] == {
        "person": {"proposed": 3, "pending": 1, "approved": 1, "granted": 0, "rejected": 0, "annulled": 1,
                   "held": 0},
        "unit": {"proposed": 1, "pending": 0, "approved": 1, "granted": 1, "rejected": 0, "annulled": 0, "held": 0}}
    assert (body["collectives"]["approved"], body["individuals"]["approved"]) == (1, 1)
    assert body["individuals"] == body["by_recipient_kind"]["person"]


# --- a unit proposes itself ------------------------------------------------------------------------------------------
async def test_a_unit_proposes_itself_and_only_itself(awards: Awards) -> None:
    unit, other = f"u-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    await awards.bus.publish(registered(unit, "01.00004"))
    await awards.bus.publish(registered(other, "01.00004"))
    await qualify(awards.bus, unit, 2024, 2026)
    await drained(awards.service)
    own = awards.token("unit", unit=unit)
    body = {"award_type": "giay_khen", "recipient_kind": "unit", "recipient_ref": unit, "year": 2026}

    r = await awards.http.post("/awards", json={**body, "recipient_ref": other}, headers=own)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_scope"
    r = await awards.http.post("/awards", json={**_base(), "recipient_ref": _person()}, headers=own)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_scope"  # its staff: through the police
    r = await awards.http.post("/awards", json={**body, "proposer": "police"}, headers=own)
    assert r.status_code == 422 and r.json()["error"]["code"] == "proposer_mismatch"
    r = await awards.http.post("/awards", json={**body, "area_code": "79"}, headers=own)
    assert r.status_code == 422 and r.json()["error"]["code"] == "area_mismatch"
    stranger = f"u-{uuid.uuid4().hex[:8]}"
    r = await awards.http.post("/awards", json={**body, "recipient_ref": stranger},
                               headers=awards.token("unit", unit=stranger))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unit_not_known"

    r = await awards.http.post("/awards", json={**body, "area_code": "01.00004"}, headers=own)
    assert r.status_code == 201, r.text
    award = r.json()
    assert (award["recipient_ref"], award["area_code"], award["status"]) == (unit, "01.00004", "proposed")
    assert award["nomination"]["proposer"] == "unit"
    assert [(s["action"], s["role"]) for s in award["audit"]][:1] == [("award.propose", "unit")]
    # The unit sees its proposal; another unit does not; the commune's officer takes it from there.
    assert (await awards.http.get(f"/awards/{award['award_id']}", headers=own)).status_code == 200
    r = await awards.http.get(f"/awards/{award['award_id']}", headers=awards.token("unit", unit=other))
    assert r.status_code == 403
    r = await awards.http.post("/awards", json=body, headers=own)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_proposed"
    officer = awards.token("officer", area="01.00004")
    r = await _step(awards, award["award_id"], "approve", {"decision_no": "20/QĐ"}, officer)
    assert r.status_code == 200 and r.json()["status"] == "approved"


async def test_a_desk_lists_pending_awards_by_level_and_approves_a_batch_with_one_refusal_per_row(
        awards: Awards) -> None:
    commune = [await _nominate(awards, level="commune") for _ in range(2)]
    province = await _nominate(awards, award_type="bang_khen_province", level="province")
    leader = awards.token("leader", area="01.00004", level="commune", sub="chu-tich-xa")
    listed = (await awards.http.get("/awards", params={"pending": "true", "level": ["unit", "commune"]},
                                    headers=leader)).json()["items"]
    assert {a["award_id"] for a in listed} == {a["award_id"] for a in commune}
    detail = (await awards.http.get(f"/awards/{province['award_id']}", headers=leader)).json()
    assert detail["quota"] == {"scope": "province", "used": 0, "limit": 30, "left": 30}

    r = await awards.http.post("/awards/approvals", headers=leader, json={
        "award_ids": [commune[0]["award_id"], province["award_id"], "no-such-award", commune[1]["award_id"]],
        "decision_no": "46/QĐ-UBND", "decided_on": "2026-12-02"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["approved"], out["refused"]) == (2, 2)
    by_id = {i["award_id"]: i for i in out["items"]}
    assert by_id[province["award_id"]]["error"]["code"] == "forbidden_level"
    assert by_id["no-such-award"]["error"]["status"] == 404
    approved = (await awards.http.get(f"/awards/{commune[1]['award_id']}", headers=leader)).json()
    assert (approved["status"], approved["decision_no"], approved["decided_on"]) == (
        "approved", "46/QĐ-UBND", "2026-12-02")
    assert (await awards.http.get(f"/awards/{province['award_id']}", headers=leader)).json()["status"] == "proposed"
    assert (await awards.http.get("/awards", params={"pending": "true", "level": ["unit", "commune"]},
                                  headers=leader)).json()["items"] == []
    # Unit staff cannot use the batch; an empty batch is a 422.
    assert (await awards.http.post("/awards/approvals", headers=awards.token("unit", unit="u-1"), json={
        "award_ids": [province["award_id"]], "decision_no": "1"})).status_code == 403
    assert (await awards.http.post("/awards/approvals", headers=leader, json={
        "award_ids": [], "decision_no": "1"})).status_code == 422

    # Who decided what: the trail, newest first, for admins only.
    trail = await awards.http.get("/audit", params={"action": "award.approve"}, headers=awards.token("admin"))
    assert trail.status_code == 200
    entries = trail.json()["items"]
    assert [e["target"] for e in entries] == [commune[1]["award_id"], commune[0]["award_id"]]
    assert entries[0]["actor"] == "chu-tich-xa" and entries[0]["details"]["decided_on"] == "2026-12-02"
    assert (await awards.http.get("/audit", headers=leader)).status_code == 403
    page = (await awards.http.get("/audit", params={"limit": 1}, headers=awards.token("admin"))).json()
    older = (await awards.http.get("/audit", params={"limit": 1, "cursor": page["next_cursor"]},
                                   headers=awards.token("admin"))).json()
    assert older["items"][0]["seq"] < page["items"][0]["seq"]


async def test_a_cursor_beyond_a_database_integer_is_a_422_not_a_500(awards: Awards) -> None:
    # Found by the OpenAPI fuzzer: 2**63 as the keyset cursor overflowed SQLite's integer.
    for path in ("/awards", "/audit"):
        r = await awards.http.get(path, params={"cursor": "OTIyMzM3MjAzNjg1NDc3NTgwOA"}, headers=awards.token("admin"))
        assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_cursor")
