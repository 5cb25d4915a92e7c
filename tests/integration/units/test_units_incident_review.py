"""Withdrawing an incident recorded by mistake (a recognition it alone revoked is restored) and confirming an
agency's report (pending until then, unless the agency's trust level says confirmed on arrival)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from services.units.app import build
from shared.contracts.events import (
    CertificationRestored,
    CertificationRevoked,
    IncidentConfirmed,
    IncidentRecorded,
    IncidentWithdrawn,
)
from shared.errors import DomainError
from shared.settings import Settings
from shared.testing import eventually
from tests.integration.units.test_units_cycle_api import YEAR, base, drive
from tests.integration.units.test_units_incidents import OCCURRED, incident
from tests.integration.units.units_support import Harness, units_harness

AREA = "79.26743"


async def withdraw(h: Harness, uid: str, incident_id: str, headers: dict[str, str],
                   reason: str | None = "ghi nhầm đơn vị") -> dict:
    r = await h.http.post(f"/units/{uid}/incidents/{incident_id}/withdrawal", headers=headers,
                          json={} if reason is None else {"reason": reason})
    return {"status_code": r.status_code, **r.json()}


async def audit_of(h: Harness, uid: str) -> list[dict]:
    r = await h.http.get("/audit", headers=h.admin, params={"unit_id": uid, "year": YEAR})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_withdrawing_the_only_disqualifying_incident_restores_the_recognition(units: Harness) -> None:
    uid = (await units.create_unit(area_code=AREA))["unit_id"]
    await drive(units, uid, "recognised")
    officer = units.auth("officer", area=AREA)
    wrong = await incident(units, uid, "illegal_strike")
    assert wrong["revoked"]
    # No reason, unit staff, an officer of another commune: refused, nothing changes.
    assert (await withdraw(units, uid, wrong["incident_id"], officer, reason=None))["status_code"] == 422
    assert (await withdraw(units, uid, wrong["incident_id"], officer, reason="  "))["status_code"] == 422
    assert (await withdraw(units, uid, wrong["incident_id"], units.auth("unit", unit=uid)))["status_code"] == 403
    assert (await withdraw(units, uid, wrong["incident_id"], units.auth("officer", area="79.27676")))[
        "status_code"] == 403
    assert (await withdraw(units, uid, "no-such-incident", officer))["status_code"] == 404

    done = await withdraw(units, uid, wrong["incident_id"], officer)
    assert done["status_code"] == 200, done
    assert (done["status"], done["cycle_state"], done["restored"], done["withdrawal_reason"]) == (
        "withdrawn", "recognised", True, "ghi nhầm đơn vị")
    assert done["withdrawn_by"]["role"] == "officer" and done["withdrawn_by"]["area"] == AREA
    again = await withdraw(units, uid, wrong["incident_id"], officer)
    assert again["status_code"] == 409 and again["error"]["code"] == "illegal_transition"

    cycle = (await units.http.get(base(uid), headers=units.admin)).json()
    assert cycle["state"] == "recognised" and cycle["incidents"] == [] and cycle["revocation"] is None
    assert cycle["decision"]["decision_no"] == "123/QĐ-UBND"
    assert [s["state"] for s in cycle["history"]][-2:] == ["revoked", "recognised"]
    assert cycle["history"][-1]["by"]["area"] == AREA
    restored = await eventually(lambda: units.events(CertificationRestored.TYPE), timeout=15,
                                what="CertificationRestored")
    assert [(e["unit_id"], e["year"], e["incident_id"], e["reason"]) for e in restored] == [
        (uid, YEAR, wrong["incident_id"], "ghi nhầm đơn vị")]
    withdrawn = await units.events(IncidentWithdrawn.TYPE)
    assert [(e["incident_id"], e["reason"]) for e in withdrawn] == [(wrong["incident_id"], "ghi nhầm đơn vị")]
    entry = (await audit_of(units, uid))[-1]
    assert (entry["action"], entry["role"], entry["reason"]) == ("incidents.withdraw", "officer", "ghi nhầm đơn vị")
    assert (entry["details"]["before"], entry["details"]["state"], entry["details"]["to"]) == (
        "revoked", "recognised", "withdrawn")
    # A withdrawn incident counts nowhere: not in the year's statistics, not when listing the pending ones.
    stats = (await units.http.get("/stats", headers=units.admin, params={"year": YEAR, "area_code": AREA})).json()
    assert stats["incidents"]["disqualifying"] == 0
    listed = (await units.http.get(f"/units/{uid}/incidents", headers=units.admin,
                                   params={"status": "withdrawn"})).json()["items"]
    assert [i["incident_id"] for i in listed] == [wrong["incident_id"]]


async def test_with_another_disqualifying_incident_the_recognition_stays_revoked(units: Harness) -> None:
    uid = (await units.create_unit(area_code=AREA))["unit_id"]
    await drive(units, uid, "recognised")
    officer = units.auth("officer", area=AREA)
    first = await incident(units, uid, "illegal_strike")
    second = await incident(units, uid, "high_value_theft")
    assert first["revoked"] and not second["revoked"] and second["cycle_state"] == "revoked"

    done = await withdraw(units, uid, first["incident_id"], officer)
    assert (done["status_code"], done["cycle_state"], done["restored"]) == (200, "revoked", False)
    cycle = (await units.http.get(base(uid), headers=units.admin)).json()
    # The remaining incident now stands as the revocation's cause.
    assert cycle["revocation"]["incident_id"] == second["incident_id"]
    assert [i["incident_id"] for i in cycle["incidents"]] == [second["incident_id"]]
    await eventually(lambda: units.events(IncidentWithdrawn.TYPE), timeout=15, what="IncidentWithdrawn")
    assert await units.events(CertificationRestored.TYPE) == []

    last = await withdraw(units, uid, second["incident_id"], officer)
    assert (last["cycle_state"], last["restored"]) == ("recognised", True)


async def test_an_officers_revocation_is_not_undone_by_withdrawing_an_incident(units: Harness) -> None:
    uid = (await units.create_unit(area_code=AREA))["unit_id"]
    await drive(units, uid, "recognised")
    officer = units.auth("officer", area=AREA)
    minor = await incident(units, uid, "minor_theft")
    r = await units.http.post(f"{base(uid)}/revocation", headers=officer, json={"reason": "hồ sơ giả mạo"})
    assert r.status_code == 200
    done = await withdraw(units, uid, minor["incident_id"], officer)
    assert (done["cycle_state"], done["restored"]) == ("revoked", False)


async def test_an_agencys_report_counts_only_once_an_officer_confirms_it(units: Harness) -> None:
    uid = (await units.create_unit(area_code=AREA, external_key="0319999999"))["unit_id"]
    await drive(units, uid, "recognised")
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_external_key": "0319999999", "category": "illegal_strike", "occurred_at": OCCURRED,
        "reference": "LD-2026-101"})
    (recorded,) = await eventually(lambda: units.events(IncidentRecorded.TYPE), timeout=15, what="the report")
    assert recorded["status"] == "pending"
    (pending,) = (await units.http.get(f"/units/{uid}/incidents", headers=units.admin,
                                       params={"status": "pending"})).json()["items"]
    cycle = (await units.http.get(base(uid), headers=units.admin)).json()
    assert cycle["state"] == "recognised" and cycle["incidents"] == []
    assert await units.events(CertificationRevoked.TYPE) == []

    url = f"/units/{uid}/incidents/{pending['incident_id']}/confirmation"
    assert (await units.http.post(url, headers=units.auth("agency"))).status_code == 403
    assert (await units.http.post(url, headers=units.auth("officer", area="79.27676"))).status_code == 403
    r = await units.http.post(url, headers=units.auth("officer", area=AREA))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["cycle_state"], r.json()["revoked"]) == ("confirmed", "revoked", True)
    assert r.json()["confirmed_by"]["area"] == AREA
    assert (await units.http.post(url, headers=units.auth("officer", area=AREA))).status_code == 409
    revoked = await eventually(lambda: units.events(CertificationRevoked.TYPE), timeout=15, what="the revocation")
    assert [e["incident_id"] for e in revoked] == [pending["incident_id"]]
    assert [e["incident_id"] for e in await units.events(IncidentConfirmed.TYPE)] == [pending["incident_id"]]
    entry = (await audit_of(units, uid))[-1]
    assert (entry["action"], entry["details"]["from"], entry["details"]["state"]) == (
        "incidents.confirm", "pending", "revoked")


async def test_a_pending_report_withdrawn_never_counts(units: Harness) -> None:
    uid = (await units.create_unit(area_code=AREA))["unit_id"]
    await drive(units, uid, "recognised")
    await units.publish_inbound("police-app", "IncidentReported.v1", {
        "unit_id": uid, "category": "illegal_strike", "occurred_at": OCCURRED, "reference": "PA-1"})
    await eventually(lambda: units.events(IncidentRecorded.TYPE), timeout=15, what="the report")
    (pending,) = (await units.http.get(f"/units/{uid}/incidents", headers=units.admin)).json()["items"]
    done = await withdraw(units, uid, pending["incident_id"], units.auth("officer", area=AREA), reason="trùng lặp")
    assert (done["status"], done["cycle_state"], done["restored"], done["revoked"]) == (
        "withdrawn", "recognised", False, False)
    r = await units.http.post(f"/units/{uid}/incidents/{pending['incident_id']}/confirmation", headers=units.admin)
    assert r.status_code == 409


async def test_an_agency_trusted_in_data_is_confirmed_on_arrival(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str, tmp_path: Path) -> None:
    trust = tmp_path / "agencies.yaml"
    trust.write_text("default: pending\nagencies:\n  labour-dept: confirmed_on_arrival\n", encoding="utf-8")
    async with units_harness(settings_factory, database_url, nats_url, namespace,
                             units_agencies_file=trust) as h:
        uid = (await h.create_unit(area_code=AREA))["unit_id"]
        await drive(h, uid, "recognised")
        await h.publish_inbound("labour-dept", "IncidentReported.v1", {
            "unit_id": uid, "category": "illegal_strike", "occurred_at": OCCURRED, "reference": "LD-2026-201"})
        revoked = await eventually(lambda: h.events(CertificationRevoked.TYPE), timeout=15, what="the revocation")
        assert [(e["unit_id"], e["year"]) for e in revoked] == [(uid, YEAR)]
        assert [e["status"] for e in await h.events(IncidentRecorded.TYPE)] == ["confirmed"]
        entry = (await audit_of(h, uid))[-1]
        assert (entry["action"], entry["actor"], entry["role"]) == ("incidents.create", "agency/labour-dept",
                                                                   "agency")


def test_a_trust_file_that_does_not_validate_stops_the_service_starting(
        settings_factory: Callable[..., Settings], tmp_path: Path) -> None:
    bad = tmp_path / "agencies.yaml"
    bad.write_text("agencies:\n  labour-dept: always\n", encoding="utf-8")
    with pytest.raises(DomainError, match=r"agencies\.labour-dept"):
        build(settings_factory(units_agencies_file=bad))
    bad.write_text("agencies:\n  Labour_Dept: confirmed_on_arrival\n", encoding="utf-8")
    with pytest.raises(DomainError, match="not an agency name"):
        build(settings_factory(units_agencies_file=bad))
