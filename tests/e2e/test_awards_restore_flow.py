"""End to end: the real units and awards services on one NATS namespace. An incident recorded by mistake
revokes a recognition and annuls the granted award resting on it; the officer withdraws the incident, the units
service restores the recognition (CertificationRestored) and the awards service grants the award again: its
certificate verifies as valid once more."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.awards.app import build as build_awards
from services.units.app import build as build_units
from shared.contracts.events import CertificationRestored
from shared.settings import Settings
from shared.testing import eventually, running
from tests.e2e.test_awards_flow import Clock, _auth, _recognise
from tests.integration.spine.helpers import stream_messages


async def test_withdrawing_the_incident_that_revoked_a_recognition_restores_the_award_and_its_certificate(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    settings = settings_factory(units_database_url=database_url("units"), awards_database_url=database_url("awards"),
                                awards_public_base_url="https://awards.e2e")
    units, awards = build_units(settings), build_awards(settings)
    units_clock = Clock(datetime(2025, 2, 3, 2, 0, tzinfo=UTC))
    units.clock = units_clock
    async with running(units) as units_http, running(awards) as awards_http:
        admin_units, admin = _auth(units), _auth(awards)
        officer = {"Authorization": f"Bearer {units.tokens.issue(role='officer', area='01')}"}
        r = await units_http.post("/units", headers=admin_units, json={
            "name": "Công ty TNHH Cơ khí Hoàn Nguyên", "kind": "enterprise", "area_code": "01.00004",
            "external_key": f"MST-{uuid.uuid4().hex[:10]}"})
        assert r.status_code == 201, r.text
        unit_id = r.json()["unit_id"]
        await _recognise(units_http, admin_units, unit_id, 2025)
        units_clock.now = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
        await _recognise(units_http, admin_units, unit_id, 2026, submit=False)

        async def proposals() -> list[dict]:
            r = await awards_http.get("/awards", params={"recipient_ref": unit_id}, headers=admin)
            return r.json()["items"]  # type: ignore[no-any-return]

        (award,) = await eventually(proposals, timeout=20, what="the awards service's proposal")
        award_id = award["award_id"]
        for action, body in (("approve", {"decision_no": "45/QĐ-UBND"}), ("grant", None)):
            r = await awards_http.post(f"/awards/{award_id}/{action}", json=body, headers=admin)
            assert r.status_code == 200, (action, r.text)
        jws = (await awards_http.get(f"/certificates/{r.json()['certificate_id']}")).json()["jws"]

        async def verdict() -> str:
            v = (await awards_http.post("/certificates/verify", json={"certificate": jws})).json()
            return str(v["status"])

        assert await verdict() == "valid"
        # An officer records an incident against the wrong unit: a disqualifying one revokes the 2026 recognition.
        r = await units_http.post(f"/units/{unit_id}/incidents", headers=officer, json={
            "category": "illegal_strike", "occurred_at": "2026-01-20T08:30:00+07:00", "reference": "CA-2026-17"})
        assert r.status_code == 201 and r.json()["revoked"], r.text
        incident_id = r.json()["incident_id"]

        async def revoked() -> bool:
            return await verdict() == "revoked"

        await eventually(revoked, timeout=20, what="the certificate verifying as revoked")
        assert (await awards_http.get(f"/awards/{award_id}", headers=admin)).json()["status"] == "annulled"

        # The officer withdraws it: no reason is refused, then the recognition is restored.
        r = await units_http.post(f"/units/{unit_id}/incidents/{incident_id}/withdrawal", headers=officer, json={})
        assert r.status_code == 422, r.text
        r = await units_http.post(f"/units/{unit_id}/incidents/{incident_id}/withdrawal", headers=officer,
                                  json={"reason": "ghi nhầm đơn vị: vụ việc xảy ra ở công ty bên cạnh"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["cycle_state"], r.json()["restored"]) == ("withdrawn", "recognised",
                                                                                      True)

        async def valid_again() -> bool:
            return await verdict() == "valid"

        await eventually(valid_again, timeout=20, what="the certificate verifying as valid again")
        final = (await awards_http.get(f"/awards/{award_id}", headers=admin)).json()
        assert final["status"] == "granted" and final["reason"] is None
        assert [s["action"] for s in final["audit"]] == [
            "award.propose", "award.review", "award.approve", "award.grant", "award.annul", "award.restore_grant"]
        assert "annul" in final["allowed_actions"] and "restore_grant" not in final["allowed_actions"]
        restored = [m["body"]["data"] for m in await stream_messages(nats_url, f"{namespace}_UNITS")
                    if m["subject"] == f"{namespace}.{CertificationRestored.TYPE}"]
        assert [(e["unit_id"], e["year"], e["incident_id"]) for e in restored] == [(unit_id, 2026, incident_id)]
        cycle = (await units_http.get(f"/units/{unit_id}/cycles/2026", headers=admin_units)).json()
        assert cycle["state"] == "recognised" and cycle["revocation"] is None
        assert cycle["restoration"]["incident_id"] == incident_id
        assert cycle["history"][-1]["state"] == "recognised" and cycle["history"][-1]["by"]["role"] == "officer"
