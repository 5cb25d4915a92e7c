"""End to end: the real units and awards services on one NATS namespace. A unit recognised two years running
gets its Giấy khen proposal; approval and grant issue a certificate that verifies; a later revocation of a
recognition it rests on makes the certificate verify as revoked."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from services.awards.app import build as build_awards
from services.units.app import build as build_units
from shared.contracts.events import UnitCertified
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.spine.helpers import stream_messages


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _auth(service: Any, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {service.tokens.issue(role=role)}"}


async def _recognise(http: httpx.AsyncClient, headers: dict[str, str], unit_id: str, year: int, *,
                     submit: bool = True) -> None:
    """Drive one assessment year through the units HTTP API: register, score, (submit,) appraise, decide.
    Without `submit`, the contract's path: the appraisal follows the self-assessment."""
    base = f"/units/{unit_id}/cycles/{year}"
    r = await http.post(base, headers=headers)
    assert r.status_code == 201, r.text
    cycle = r.json()
    framework = (await http.get(f"/frameworks/{cycle['framework_code']}", params={"kind": cycle["kind"]})).json()
    for criterion in (c["code"] for c in framework["criteria"] if c["derived"] is None):
        r = await http.put(f"{base}/criteria/{criterion}", headers=headers,
                           json={"result": "met", "evidence": [f"bien-ban-{year}.pdf"]})
        assert r.status_code == 200, r.text
    steps: list[tuple[str, dict[str, Any] | None]] = [
        ("self-assessment", None), ("submit", None), ("appraisal", {"recommended": True}),
        ("decision", {"recognized": True, "decision_no": f"{year}/QĐ-UBND"})]
    for path, body in (s for s in steps if submit or s[0] != "submit"):
        r = await http.post(f"{base}/{path}", headers=headers, json=body)
        assert r.status_code == 200, (path, r.text)
    assert r.json()["state"] == "recognised"


async def test_a_unit_recognised_two_years_running_gets_a_certificate_that_a_revocation_revokes(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    settings = settings_factory(units_database_url=database_url("units"), awards_database_url=database_url("awards"),
                                awards_public_base_url="https://awards.e2e")
    units, awards = build_units(settings), build_awards(settings)
    units_clock = Clock(datetime(2025, 2, 3, 2, 0, tzinfo=UTC))
    units.clock = units_clock
    async with running(units) as units_http, running(awards) as awards_http:
        admin_units, admin = _auth(units), _auth(awards)
        r = await units_http.post("/units", headers=admin_units, json={
            "name": "Công ty TNHH Điện tử Demo", "kind": "enterprise", "area_code": "01.00004",
            "external_key": f"MST-{uuid.uuid4().hex[:10]}"})
        assert r.status_code == 201, r.text
        unit_id = r.json()["unit_id"]

        await _recognise(units_http, admin_units, unit_id, 2025)
        units_clock.now = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
        await _recognise(units_http, admin_units, unit_id, 2026, submit=False)

        async def proposals() -> list[dict]:
            r = await awards_http.get("/awards", params={"recipient_ref": unit_id}, headers=admin)
            return r.json()["items"]  # type: ignore[no-any-return]

        items = await eventually(proposals, timeout=20, what="the awards service's proposal")
        assert len(items) == 1
        award = items[0]
        assert (award["award_type"], award["year"], award["status"], award["area_code"]) == (
            "giay_khen", 2026, "proposed", "01.00004")
        assert award["recipient_name"] == "Công ty TNHH Điện tử Demo"
        published = [m["body"] for m in await stream_messages(nats_url, f"{namespace}_UNITS")
                     if m["subject"] == f"{namespace}.{UnitCertified.TYPE}" and m["body"]["data"]["unit_id"] == unit_id]
        assert award["basis"] == [e["id"] for e in sorted(published, key=lambda e: e["data"]["year"])]

        award_id = award["award_id"]
        # The contract's path: approve straight from proposed (the review is recorded with the approval).
        for action, body in (("approve", {"decision_no": "45/QĐ-UBND"}), ("grant", None)):
            r = await awards_http.post(f"/awards/{award_id}/{action}", json=body, headers=admin)
            assert r.status_code == 200, (action, r.text)
        certificate_id = r.json()["certificate_id"]
        certificate = (await awards_http.get(f"/certificates/{certificate_id}")).json()
        assert certificate["status"] == "valid"
        assert certificate["credential"]["credentialSubject"]["name"] == "Công ty TNHH Điện tử Demo"
        verdict = (await awards_http.post("/certificates/verify", json={"certificate": certificate["jws"]})).json()
        assert (verdict["status"], verdict["reason"]) == ("valid", "ok")

        # A disqualifying incident confirmed later: the units service revokes the 2025 recognition.
        r = await units_http.post(f"/units/{unit_id}/cycles/2025/revocation", headers=admin_units,
                                  json={"reason": "đình công trái pháp luật được xác nhận sau khi công nhận"})
        assert r.status_code == 200, r.text

        async def revoked() -> bool:
            v = (await awards_http.post("/certificates/verify", json={"certificate": certificate["jws"]})).json()
            return v["status"] == "revoked"

        await eventually(revoked, timeout=20, what="the certificate verifying as revoked")
        final = (await awards_http.get(f"/awards/{award_id}", headers=admin)).json()
        assert final["status"] == "annulled" and "2025" in final["reason"]
        assert [s["action"] for s in final["audit"]] == [
            "award.propose", "award.review", "award.approve", "award.grant", "award.annul"]
