"""History import: past years' results and awards held, over HTTP, into the audit trail, and on to awards over
the real bus, where they make the consecutive-year rules work from the first year antq decides."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shared.contracts.events import AwardHeldImported, RecognitionImported, UnitCertified
from shared.settings import Settings
from shared.testing import eventually
from tests.integration.awards.awards_helpers import Awards, awards_running, drained
from tests.integration.units.test_units_cycle_api import drive
from tests.integration.units.units_support import Harness

COMMUNE = "79.26743"  # province 79: its overlay asks 3 consecutive years for a Giấy khen, 4 for its Bằng khen
PROVINCE_OFFICER = {"role": "officer", "area": "79"}
HEADER = "record,unit_id,external_key,year,result,decision_no,decision_date,award_type,person_ref,person_name\n"


@pytest.fixture
async def awards(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
                 namespace: str) -> AsyncIterator[Awards]:
    settings = settings_factory(awards_database_url=database_url("awards"))
    async with awards_running(settings, nats_url, namespace) as world:
        yield world


def recognitions(uid: str, *years: int) -> str:
    return "".join(f"recognition,{uid},,{y},recognised,{y}/QĐ-UBND,{y}-12-20,,,\n" for y in years)


async def send(units: Harness, body: str, *, who: dict[str, Any] | None = None, media: str = "text/csv",
               **params: Any) -> Any:
    headers = {**units.auth(**(who or PROVINCE_OFFICER)), "content-type": media}
    return await units.http.post("/history/import", content=body.encode(), headers=headers, params=params)


async def awards_of(awards: Awards, unit_id: str) -> list[dict[str, Any]]:
    r = await awards.http.get("/awards", params={"recipient_ref": unit_id}, headers=awards.token("admin"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_two_imported_years_and_this_years_recognition_owe_the_three_year_award_at_once(
        units: Harness, awards: Awards) -> None:
    uid = (await units.create_unit(area_code=COMMUNE))["unit_id"]
    r = await send(units, HEADER + recognitions(uid, 2024, 2025))
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["rejected"]) == (2, 0)
    await drive(units, uid, "recognised")  # 2026, decided in antq

    certified = [e for e in await units.events(UnitCertified.TYPE) if e["unit_id"] == uid]
    assert certified[0]["consecutive_years"] == 3  # the imported years count in units too
    imported = [e for e in await units.events(RecognitionImported.TYPE) if e["unit_id"] == uid]
    assert [(e["year"], e["recognized"], e["imported"], e["decided_by_level"]) for e in imported] == [
        (2024, True, True, "commune"), (2025, True, True, "commune")]

    proposals = await eventually(lambda: awards_of(awards, uid), what="the Giấy khen proposal")
    assert [(a["award_type"], a["year"], a["status"]) for a in proposals] == [("giay_khen", 2026, "proposed")]
    assert len(proposals[0]["basis"]) == 3  # both imported years and this year's recognition
    await drained(awards.service)
    assert len(await awards_of(awards, uid)) == 1  # nothing owed for the imported years themselves


async def test_an_award_held_counts_for_the_next_one_and_is_never_proposed_again(
        units: Harness, awards: Awards) -> None:
    uid = (await units.create_unit(area_code=COMMUNE, name="Công ty Bảo An"))["unit_id"]
    rows = recognitions(uid, 2023, 2024, 2025) + f"award,{uid},,2025,,45/QĐ-UBND,2025-08-19,giay_khen,,\n"
    r = await send(units, HEADER + rows)
    assert r.json()["created"] == 4, r.text
    held = await eventually(lambda: awards_of(awards, uid), what="the award held")
    assert [(a["award_type"], a["year"], a["status"], a["decision_no"], a["origin"]) for a in held] == [
        ("giay_khen", 2025, "held", "45/QĐ-UBND", "imported")]
    assert held[0]["recipient_name"] == "Công ty Bảo An"
    detail = (await awards.http.get(f"/awards/{held[0]['award_id']}", headers=awards.token("admin"))).json()
    assert [s["action"] for s in detail["audit"]] == ["award.import"]
    grant = await awards.http.post(f"/awards/{held[0]['award_id']}/grant", headers=awards.token("admin"))
    assert grant.status_code == 409  # no certificate is signed for an award decided before antq
    figures = (await awards.http.get("/stats", params={"year": 2025}, headers=awards.token("admin"))).json()
    assert (figures["totals"]["held"], figures["totals"]["approved"], figures["totals"]["proposed"]) == (1, 1, 0)

    await drive(units, uid, "recognised")  # 2026: four years in a row, and the Giấy khen held since 2025
    async def bang_khen() -> list[dict[str, Any]]:
        return [a for a in await awards_of(awards, uid) if a["award_type"] == "bang_khen_province"]
    proposed = await eventually(bang_khen, what="the provincial Bằng khen")
    assert [(a["year"], a["status"]) for a in proposed] == [(2026, "proposed")]
    await drained(awards.service)
    assert sorted((a["award_type"], a["year"]) for a in await awards_of(awards, uid)) == [
        ("bang_khen_province", 2026), ("giay_khen", 2025)]
    announced = [e for e in await awards.bus.events(type_suffix="AwardProposed.v1")
                 if e["data"]["recipient_ref"] == uid]
    assert [e["data"]["award_type"] for e in announced] == ["bang_khen_province"]


async def test_reimporting_changes_nothing_and_a_contradiction_is_refused(units: Harness) -> None:
    uid = (await units.create_unit(area_code=COMMUNE))["unit_id"]
    person = f"award,{uid},,2024,,9/QĐ-CAT,2024-08-19,ky_niem_chuong,CB-0042,Nguyễn Văn Bình\n"
    body = HEADER + recognitions(uid, 2024) + person
    first = (await send(units, body)).json()
    again = (await send(units, body)).json()
    assert (first["created"], again["created"], again["unchanged"], again["rejected"]) == (2, 0, 2, 0)
    changed = HEADER + f"recognition,{uid},,2024,recognised,99/QĐ-UBND,2024-12-20,,,\n"
    refused = (await send(units, changed)).json()
    assert refused["rejected"] == 1 and refused["rows"][0]["errors"][0]["field"] == "decision_no"
    assert len([e for e in await units.events(RecognitionImported.TYPE) if e["unit_id"] == uid]) == 1
    held = [e for e in await units.events(AwardHeldImported.TYPE) if e["unit_id"] == uid]
    assert [(e["recipient_kind"], e["recipient_ref"], e["recipient_name"]) for e in held] == [
        ("person", "CB-0042", "Nguyễn Văn Bình")]
    past = (await units.http.get(f"/units/{uid}/past", headers=units.admin)).json()
    assert [(p["year"], p["decision_no"]) for p in past["recognitions"]] == [(2024, "2024/QĐ-UBND")]
    assert [(p["award_type"], p["recipient_ref"]) for p in past["awards"]] == [("ky_niem_chuong", "CB-0042")]

    trail = (await units.http.get("/audit", headers=units.admin, params={"unit_id": uid})).json()["items"]
    assert [(e["action"], e["target"], e["actor"], e["role"]) for e in trail] == [
        ("history.recognition", f"{uid}/2024", trail[0]["actor"], "officer"),
        ("history.award", f"{uid}/2024", trail[0]["actor"], "officer")]
    assert trail[0]["details"]["decision_no"] == "2024/QĐ-UBND" and trail[0]["details"]["actor_area"] == "79"


async def test_a_dry_run_reports_and_records_nothing(units: Harness) -> None:
    uid = (await units.create_unit(area_code=COMMUNE))["unit_id"]
    r = await send(units, HEADER + recognitions(uid, 2023, 2024), dry_run="true")
    assert r.status_code == 200 and (r.json()["dry_run"], r.json()["created"]) == (True, 2)
    past = (await units.http.get(f"/units/{uid}/past", headers=units.admin)).json()
    assert past["recognitions"] == [] and [e for e in await units.events(RecognitionImported.TYPE)
                                           if e["unit_id"] == uid] == []
    assert (await units.http.get("/audit", headers=units.admin, params={"unit_id": uid})).json()["items"] == []


async def test_bad_rows_are_rejected_one_by_one_never_a_500(units: Harness) -> None:
    uid = (await units.create_unit(area_code=COMMUNE, external_key="0301234567"))["unit_id"]
    await drive(units, uid, "registered", year=2026)
    lines = [
        {"record": "recognition", "external_key": "0301234567", "year": 2025, "result": "đạt",
         "decision_no": "1/QĐ", "decision_date": "2025-12-01", "rating": "good"},             # 1 created
        {"record": "recognition", "unit_id": "nope", "year": 2024, "result": "recognised", "decision_no": "2"},
        {"record": "recognition", "unit_id": uid, "year": 2026, "result": "recognised", "decision_no": "3"},
        {"record": "recognition", "unit_id": uid, "year": 2023, "result": "maybe", "decision_no": "4"},
        {"record": "recognition", "unit_id": uid, "year": 2022, "result": "recognised"},
        {"record": "recognition", "unit_id": uid, "year": 2021, "result": "recognised", "decision_no": "5",
         "decision_date": "2031-01-01"},
        {"record": "award", "unit_id": uid, "year": 2024, "award_type": "huan_chuong", "decision_no": "6"},
        {"record": "award", "unit_id": uid, "year": 2024, "award_type": "ky_niem_chuong", "decision_no": "7"},
        {"record": "award", "unit_id": uid, "year": 2024, "award_type": "giay_khen", "decision_no": "8",
         "person_ref": "CB-1"},
        {"record": "appraisal", "unit_id": uid, "year": 2024},
        {"record": "recognition", "year": 2024, "result": "recognised", "decision_no": "9"},
        {"record": "recognition", "unit_id": uid, "year": "twenty", "result": "recognised", "decision_no": "10"},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n{not json\n[1, 2]\n"
    r = await send(units, body, media="application/x-ndjson")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["total"], report["created"], report["rejected"]) == (14, 1, 13)
    fields = {row["line"]: row["errors"][0]["field"] for row in report["rows"] if row["status"] == "rejected"}
    assert fields == {2: "unit_id", 3: "year", 4: "result", 5: "decision_no", 6: "decision_date", 7: "award_type",
                      8: "award_type", 9: "person_name", 10: "record", 11: "unit_id", 12: "year", 13: "row",
                      14: "row"}

    # The year antq holds a cycle of cannot be imported over it.
    r = await send(units, HEADER + f"recognition,{uid},,2026,recognised,1/QĐ,,,,\n")
    assert r.json()["rows"][0]["errors"][0]["field"] == "year"

    assert (await send(units, "")).status_code == 422  # no header row
    assert (await send(units, "x", media="application/pdf")).status_code == 415
    assert (await send(units, HEADER, media="text/csv", dry_run="perhaps")).status_code == 422
    bad_bytes = await units.http.post("/history/import", content=b"\xff\xfe\x00", headers={
        **units.auth(**PROVINCE_OFFICER), "content-type": "text/csv"})
    assert bad_bytes.status_code == 422


async def test_only_admins_and_province_officers_import_and_only_within_their_province(units: Harness) -> None:
    uid = (await units.create_unit(area_code=COMMUNE))["unit_id"]
    body = HEADER + recognitions(uid, 2024)
    assert (await send(units, body, who={"role": "officer", "area": COMMUNE})).status_code == 403
    assert (await send(units, body, who={"role": "unit", "unit": uid})).status_code == 403
    assert (await send(units, body, who={"role": "agency"})).status_code == 403
    anonymous = await units.http.post("/history/import", content=body.encode(), headers={"content-type": "text/csv"})
    assert anonymous.status_code == 401
    elsewhere = (await send(units, body, who={"role": "officer", "area": "01"})).json()
    assert elsewhere["rejected"] == 1 and elsewhere["rows"][0]["errors"][0]["field"] == "unit_id"
    assert (await send(units, body, who={"role": "admin"})).json()["created"] == 1
