"""Incidents as one table (pending → confirmed → withdrawn), withdrawing one from its cycle (a recognition it alone
revoked is restored) and the agencies' trust levels as data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.units.domain import (
    INCIDENT_TRANSITIONS,
    Actor,
    AgencyTrust,
    Cycle,
    Incident,
    IncidentState,
    confirm_incident,
    framework_in_force,
    load_agency_trust,
    note_incident,
    record_incident,
    revoke,
    withdraw_from_cycle,
    withdraw_incident,
)
from shared.contracts.events import CertificationRestored, IncidentConfirmed, IncidentRecorded, IncidentWithdrawn
from shared.errors import IllegalTransition, Invalid
from tests.unit.units.test_units_cycle import T0, to_state

FW = framework_in_force("enterprise", None, date(2026, 2, 10))
OFFICER = Actor(sub="can-bo-1", role="officer", area="79.26743")
OCCURRED = datetime(2026, 1, 20, 1, 30, tzinfo=UTC)
LATER = T0 + timedelta(days=30)


def recorded(category: str = "illegal_strike", *, pending: bool = False, incident_id: str = "i-1") -> Incident:
    incident, events = record_incident(incident_id=incident_id, unit_id="u1", category=category,
                                       occurred_at=OCCURRED, source="agency/labour-dept" if pending else "http",
                                       framework=FW, now=T0, pending=pending)
    assert isinstance(events[0], IncidentRecorded) and events[0].status == ("pending" if pending else "confirmed")
    return incident


def in_state(state: IncidentState) -> Incident:
    incident = recorded(pending=state != "confirmed")
    if state == "withdrawn":
        incident = withdraw_incident(incident, reason="nhầm", by=OFFICER, now=T0)[0]
    assert incident.status == state
    return incident


@pytest.mark.parametrize("state", list(INCIDENT_TRANSITIONS))
@pytest.mark.parametrize("command", ["confirm", "withdraw"])
def test_every_incident_transition_is_allowed_or_refused_by_the_table(state: IncidentState, command: str) -> None:
    incident = in_state(state)
    expected = INCIDENT_TRANSITIONS[state].get(command)  # type: ignore[call-overload]
    if expected is None:
        with pytest.raises(IllegalTransition) as raised:
            if command == "confirm":
                confirm_incident(incident, by=OFFICER, now=LATER)
            else:
                withdraw_incident(incident, reason="nhầm", by=OFFICER, now=LATER)
        assert raised.value.state == state
        return
    if command == "confirm":
        done, events = confirm_incident(incident, by=OFFICER, now=LATER)
        assert isinstance(events[0], IncidentConfirmed) and (done.confirmed_by, done.confirmed_at) == (OFFICER, LATER)
    else:
        done, withdrawn = withdraw_incident(incident, reason=" ghi nhầm ", by=OFFICER, now=LATER)
        assert isinstance(withdrawn[0], IncidentWithdrawn) and withdrawn[0].reason == "ghi nhầm"
        assert (done.withdrawn_by, done.withdrawal_reason) == (OFFICER, "ghi nhầm")
    assert done.status == expected
    assert done.counts == (expected == "confirmed")


def test_only_a_confirmed_incident_counts_and_a_withdrawal_needs_a_reason() -> None:
    assert recorded().counts and not recorded(pending=True).counts
    with pytest.raises(Invalid):
        withdraw_incident(recorded(), reason="  ", by=OFFICER, now=LATER)


def _revoked_by(*incidents: Incident) -> Cycle:
    cycle = to_state("recognised")
    for incident in incidents:
        cycle = note_incident(cycle, incident.ref(), now=LATER).cycle
    assert cycle.state == "revoked"
    return cycle


def test_withdrawing_the_only_disqualifying_incident_restores_the_recognition() -> None:
    cycle = _revoked_by(recorded())
    decision = cycle.decision
    outcome = withdraw_from_cycle(cycle, "i-1", reason="ghi nhầm đơn vị", now=LATER + timedelta(days=1))
    assert outcome.cycle.state == "recognised" and outcome.cycle.revocation is None
    assert outcome.cycle.decision == decision and outcome.cycle.incidents == ()
    assert outcome.cycle.restoration is not None and outcome.cycle.restoration.incident_id == "i-1"
    assert outcome.cycle.history[-1].state == "recognised"
    (event,) = outcome.events
    assert isinstance(event, CertificationRestored) and (event.incident_id, event.reason) == ("i-1", "ghi nhầm đơn vị")


def test_another_disqualifying_incident_keeps_it_revoked_and_becomes_the_cause() -> None:
    cycle = _revoked_by(recorded(), recorded("high_value_theft", incident_id="i-2"))
    outcome = withdraw_from_cycle(cycle, "i-1", reason="nhầm", now=LATER)
    assert outcome.events == [] and outcome.cycle.state == "revoked"
    assert outcome.cycle.revocation is not None and outcome.cycle.revocation.incident_id == "i-2"
    again = withdraw_from_cycle(outcome.cycle, "i-2", reason="nhầm", now=LATER)
    assert again.cycle.state == "recognised" and isinstance(again.events[0], CertificationRestored)


def test_a_minor_incident_withdrawn_or_an_officers_revocation_restores_nothing() -> None:
    minor = recorded("minor_theft")
    cycle = note_incident(to_state("recognised"), minor.ref(), now=LATER).cycle
    revoked = revoke(cycle, reason="hồ sơ giả mạo", now=LATER).cycle
    outcome = withdraw_from_cycle(revoked, minor.incident_id, reason="nhầm", now=LATER)
    assert (outcome.cycle.state, outcome.events, outcome.cycle.incidents) == ("revoked", [], ())
    # An incident the cycle does not hold (a pending report) changes nothing.
    assert withdraw_from_cycle(revoked, "i-unknown", reason="nhầm", now=LATER) == (revoked, [])


def test_withdrawing_before_the_decision_only_drops_the_incident() -> None:
    cycle = note_incident(to_state("submitted"), recorded().ref(), now=LATER).cycle
    outcome = withdraw_from_cycle(cycle, "i-1", reason="nhầm", now=LATER)
    assert (outcome.cycle.state, outcome.cycle.incidents, outcome.events) == ("submitted", (), [])


def test_agency_trust_levels_are_data_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    shipped = load_agency_trust()
    assert shipped.default == "pending" and not shipped.confirmed_on_arrival("labour-dept")
    good = tmp_path / "agencies.yaml"
    good.write_text("agencies:\n  labour-dept: confirmed_on_arrival\n", encoding="utf-8")
    trust = load_agency_trust(good)
    assert trust.confirmed_on_arrival("labour-dept") and not trust.confirmed_on_arrival("police-app")
    assert AgencyTrust(default="confirmed_on_arrival").confirmed_on_arrival("anyone")
    for text in ("agencies:\n  labour-dept: sometimes\n", "default: yes\n", "extra: 1\n", "agencies: [1, 2\n"):
        good.write_text(text, encoding="utf-8")
        with pytest.raises(Invalid):
            load_agency_trust(good)
    with pytest.raises(Invalid):
        load_agency_trust(tmp_path / "missing.yaml")
