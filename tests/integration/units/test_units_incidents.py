"""Incidents over HTTP and from other agencies: disqualification, revocation, duplicates and unknown units."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from nats.js.errors import NoStreamResponseError

from shared.contracts.events import CertificationDenied, CertificationRevoked, IncidentRecorded
from shared.testing import eventually
from tests.integration.units.test_units_cycle_api import base, drive, step
from tests.integration.units.units_support import Harness, publish_raw

OCCURRED = "2026-01-20T08:30:00+07:00"


async def incident(h: Harness, uid: str, category: str, occurred_at: str = OCCURRED) -> dict:
    r = await h.http.post(f"/units/{uid}/incidents", headers=h.admin,
                          json={"category": category, "occurred_at": occurred_at, "description": "biên bản"})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_disqualifying_incident_rules_out_recommendation_and_recognition(units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    await drive(units, uid, "submitted")
    recorded = await incident(units, uid, "illegal_strike")
    assert recorded["disqualifying"] and recorded["year"] == 2026 and recorded["cycle_state"] == "submitted"
    refused = await step(units, uid, "appraise", recommended=True)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "disqualifying_incident"
    assert (await step(units, uid, "appraise", recommended=False)).status_code == 200
    assert (await step(units, uid, "decide")).status_code == 409
    denied = await step(units, uid, "decide", recognized=False)
    assert denied.json()["state"] == "not_recognised"
    reasons = (await units.events(CertificationDenied.TYPE))[0]["reasons"]
    assert "disqualifying_incident:illegal_strike" in reasons and "appraisal:not_recommended" in reasons
    recorded_events = await units.events(IncidentRecorded.TYPE)
    assert [(e["category"], e["disqualifying"], e["source"]) for e in recorded_events] == [
        ("illegal_strike", True, "http")]


async def test_an_incident_before_registration_counts_for_that_year(units: Harness) -> None:
    uid = (await units.create_unit(kind="school", school_level="upper_secondary"))["unit_id"]
    await incident(units, uid, "school_violence")
    cycle = (await step(units, uid, "register")).json()
    assert [i["category"] for i in cycle["incidents"]] == ["school_violence"]
    bad = await units.http.post(f"/units/{uid}/incidents", headers=units.admin,
                                json={"category": "nonsense", "occurred_at": OCCURRED})
    assert bad.status_code == 422
    future = await units.http.post(f"/units/{uid}/incidents", headers=units.admin,
                                   json={"category": "other", "occurred_at": "2027-01-01T00:00:00+07:00"})
    assert future.status_code == 422
    naive = await units.http.post(f"/units/{uid}/incidents", headers=units.admin,
                                  json={"category": "other", "occurred_at": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


async def test_a_disqualifying_incident_after_recognition_revokes_it(units: Harness) -> None:
    uid = (await units.create_unit())["unit_id"]
    await drive(units, uid, "recognised")
    minor = await incident(units, uid, "minor_theft")
    assert not minor["revoked"] and minor["cycle_state"] == "recognised"
    serious = await incident(units, uid, "high_value_theft")
    assert serious["revoked"] and serious["cycle_state"] == "revoked"
    cycle = (await units.http.get(base(uid), headers=units.admin)).json()
    assert cycle["revocation"]["incident_id"] == serious["incident_id"]
    revoked = await units.events(CertificationRevoked.TYPE)
    assert revoked == [{"unit_id": uid, "year": 2026, "reason": "disqualifying incident: high_value_theft",
                        "incident_id": serious["incident_id"]}]
    listed = (await units.http.get(f"/units/{uid}/incidents", headers=units.admin, params={"limit": 1})).json()
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    rest = (await units.http.get(f"/units/{uid}/incidents", headers=units.admin,
                                 params={"cursor": listed["next_cursor"]})).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    # An incident of another year leaves this year's cycle alone.
    other_year = await incident(units, uid, "illegal_strike", "2025-06-01T08:00:00+07:00")
    assert other_year["year"] == 2025 and other_year["cycle_state"] is None


async def test_inbound_incidents_match_by_id_or_key_once_per_reference_and_unknown_units_go_to_dlq(
        units: Harness) -> None:
    by_id = (await units.create_unit())["unit_id"]
    by_key = await units.create_unit(external_key="0312345678")
    await drive(units, by_key["unit_id"], "recognised")
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_id": by_id, "category": "strike_prevented", "occurred_at": OCCURRED, "reference": "LD-2026-001"})
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_external_key": "0312345678", "category": "illegal_strike", "occurred_at": OCCURRED,
        "reference": "LD-2026-002"})
    # The agency re-sends the first report under a new event id: recognised by its reference.
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_id": by_id, "category": "strike_prevented", "occurred_at": OCCURRED, "reference": "LD-2026-001"})
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_id": "no-such-unit", "category": "illegal_strike", "occurred_at": OCCURRED,
        "reference": "LD-2026-003"})
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_id": by_id, "category": "alien_landing", "occurred_at": OCCURRED, "reference": "LD-2026-004"})
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_id": by_id, "category": "other", "occurred_at": OCCURRED, "reference": "LD-2026-005"},
        source="agency/somebody-else")

    async def dead() -> list:
        letters = await units.dead_letters()
        return letters if len(letters) >= 3 else []

    letters = await eventually(dead, timeout=15, what="three dead letters")
    reasons = sorted(m["headers"]["Antq-Dlq-Reason"] for m in letters)
    assert any("unknown unit 'no-such-unit'" in r for r in reasons), reasons
    assert any("alien_landing" in r for r in reasons), reasons
    assert any("does not match the publishing agency" in r for r in reasons), reasons
    assert all(m["subject"] == f"{units.namespace}.antq.dlq.units.antq.inbound.labour-dept.IncidentReported.v1"
               for m in letters)

    async def recorded() -> list:
        events = await units.events(IncidentRecorded.TYPE)
        return events if len(events) >= 2 else []

    events = await eventually(recorded, timeout=15, what="two incidents recorded")
    assert sorted((e["unit_id"], e["category"], e["source"]) for e in events) == sorted([
        (by_id, "strike_prevented", "agency/labour-dept"),
        (by_key["unit_id"], "illegal_strike", "agency/labour-dept")])
    listed = (await units.http.get(f"/units/{by_id}/incidents", headers=units.admin)).json()["items"]
    assert [i["reference"] for i in listed] == ["LD-2026-001"]
    # An agency's report waits for an officer's confirmation: the recognition stands until then.
    assert {e["status"] for e in events} == {"pending"}
    assert await units.events(CertificationRevoked.TYPE) == []


async def test_inbound_messages_no_service_accepts_are_refused_on_publishing_and_an_invalid_one_dlqed_once(
        units: Harness) -> None:
    """Only the accepted inbound types have a stream: an unknown type, an unknown version or a subject of the
    wrong shape is refused to the publisher by the server (no stream answers), so nothing sits unread; an accepted
    type, valid or not, is left to its own consumer, which dead-letters an invalid one once."""
    unit = (await units.create_unit())["unit_id"]
    envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "agency/moh", "type": "IncidentReported.v1",
                "time": datetime.now(UTC).isoformat(), "data": {}}
    for subject in ("antq.inbound.moh.Bogus.v1", "antq.inbound.moh.IncidentReported.v2",
                    "antq.inbound.moh.extra.IncidentReported.v1"):
        with pytest.raises(NoStreamResponseError):
            await publish_raw(units.nats_url, f"{units.namespace}.{subject}", json.dumps(envelope).encode())
    await units.publish_inbound("moh", "IncidentReported.v1", {
        "unit_id": unit, "category": "strike_prevented", "occurred_at": OCCURRED, "reference": "MOH-1"})
    await units.publish_inbound("moh", "IncidentReported.v1", {"unit_id": unit, "reference": "MOH-2"})

    await eventually(units.dead_letters, timeout=15, what="the invalid incident dead-lettered")
    await eventually(lambda: units.events(IncidentRecorded.TYPE), timeout=15, what="the valid incident recorded")
    letters = await units.dead_letters()  # nothing more arrives after the valid one was handled
    ns = units.namespace
    assert [m["subject"].removeprefix(f"{ns}.antq.dlq.") for m in letters] == [
        "units.antq.inbound.moh.IncidentReported.v1"]
    assert "category" in letters[0]["headers"]["Antq-Dlq-Reason"]
