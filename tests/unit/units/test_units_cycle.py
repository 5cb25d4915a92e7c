"""The yearly ANTT cycle: every allowed and refused transition, incidents, decisions, revocation."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.units.domain import (
    ALLOWED,
    Cycle,
    CycleState,
    Framework,
    IncidentRef,
    Outcome,
    appraise,
    consecutive_years,
    decide,
    framework_in_force,
    note_incident,
    recognised_years,
    record_criterion,
    refuse_second_registration,
    register,
    revoke,
    self_assess,
    submit,
)
from shared.contracts.events import (
    CertificationDenied,
    CertificationRevoked,
    CycleRegistered,
    UnitAppraised,
    UnitCertified,
    UnitSelfAssessed,
)
from shared.errors import Conflict, IllegalTransition, Invalid, NotFound

T0 = datetime(2026, 2, 10, 3, 0, tzinfo=UTC)
FW = framework_in_force("enterprise", None, date(2026, 2, 10))
SCHOOL_FW = framework_in_force("school", None, date(2026, 2, 10))
AREA = "79.26743"


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def registered(fw: Framework = FW, **kw: Any) -> Cycle:
    return register(unit_id="u1", kind=fw.kind, year=2026, framework=fw, now=T0, **kw).cycle


def all_met(cycle: Cycle, fw: Framework = FW) -> Cycle:
    for crit in fw.scored_criteria:
        cycle = record_criterion(cycle, fw, code=crit.code, result="met", evidence=[f"doc-{crit.code}"],
                                 now=at(1)).cycle
    return cycle


def to_state(state: CycleState, fw: Framework = FW) -> Cycle:
    cycle = registered(fw)
    if state == "registered":
        return cycle
    cycle = all_met(cycle, fw)
    if state == "in_progress":
        return cycle
    cycle = self_assess(cycle, fw, now=at(2)).cycle
    if state == "self_assessed":
        return cycle
    cycle = submit(cycle, now=at(3), area_code=AREA, unit_name="Công ty A").cycle
    if state == "submitted":
        return cycle
    cycle = appraise(cycle, recommended=state != "not_recognised", now=at(4)).cycle
    if state == "appraised":
        return cycle
    if state == "not_recognised":
        return decide(cycle, recognized=False, decision_no=None, level="commune", now=at(5)).cycle
    cycle = decide(cycle, recognized=True, decision_no="12/QĐ-UBND", level="commune", now=at(5)).cycle
    if state == "recognised":
        return cycle
    return revoke(cycle, reason="fraud in the dossier", now=at(6)).cycle


COMMANDS: dict[str, Callable[[Cycle], Outcome]] = {
    "record_criterion": lambda c: record_criterion(c, FW, code="A6.1", result="met", now=at(7)),
    "self_assess": lambda c: self_assess(c, FW, now=at(7),
                                         results={k.code: {"result": "met"} for k in FW.scored_criteria}),
    "submit": lambda c: submit(c, now=at(7), area_code=AREA, unit_name="Công ty A"),
    "appraise": lambda c: appraise(c, recommended=False, now=at(7)),
    "decide": lambda c: decide(c, recognized=False, decision_no=None, level="commune", now=at(7)),
    "revoke": lambda c: revoke(c, reason="fraud", now=at(7)),
}
STATES: list[CycleState] = list(ALLOWED)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_is_accepted_exactly_in_its_states(state: CycleState, command: str) -> None:
    cycle = to_state(state)
    assert cycle.state == state
    if command in ALLOWED[state]:
        COMMANDS[command](cycle)
    else:
        with pytest.raises(IllegalTransition) as info:
            COMMANDS[command](cycle)
        assert info.value.status == 409
        assert info.value.details["state"] == state
        assert info.value.allowed == sorted(ALLOWED[state])


def test_final_states_accept_nothing_but_revocation_after_recognition() -> None:
    assert ALLOWED["not_recognised"] == () and ALLOWED["revoked"] == ()
    assert ALLOWED["recognised"] == ("revoke",)


def test_registration_emits_cycle_registered_and_uses_framework_in_force() -> None:
    out = register(unit_id="u1", kind="enterprise", year=2026, framework=FW, now=T0)
    assert out.cycle.state == "registered" and out.cycle.framework_code == FW.code
    assert out.events == [CycleRegistered(unit_id="u1", year=2026, registered_at=T0, late=False)]


def test_late_registration_is_flagged() -> None:
    # 1 April 00:30 in Vietnam is still 31 March in UTC: the local date decides.
    late_at = datetime(2026, 3, 31, 17, 30, tzinfo=UTC)
    out = register(unit_id="u1", kind="enterprise", year=2026, framework=FW, now=late_at)
    assert out.cycle.late and out.events[0].late  # type: ignore[attr-defined]
    on_time = register(unit_id="u1", kind="enterprise", year=2026, framework=FW,
                       now=datetime(2026, 3, 31, 16, 59, tzinfo=UTC))
    assert not on_time.cycle.late


def test_registration_for_a_closed_or_unopened_year_is_refused() -> None:
    with pytest.raises(Conflict) as closed:
        register(unit_id="u1", kind="enterprise", year=2025, framework=FW, now=T0)
    assert closed.value.code == "year_closed"
    with pytest.raises(Conflict) as unopened:
        register(unit_id="u1", kind="enterprise", year=2027, framework=FW, now=T0)
    assert unopened.value.code == "year_not_open"
    # From 16 November the next year is open.
    assert register(unit_id="u1", kind="enterprise", year=2027, framework=FW,
                    now=datetime(2026, 11, 16, 2, tzinfo=UTC)).cycle.year == 2027


def test_out_of_scope_or_dissolved_units_cannot_register() -> None:
    with pytest.raises(Conflict) as scope:
        register(unit_id="u1", kind="enterprise", year=2026, framework=FW, now=T0, in_scope=False)
    assert scope.value.code == "out_of_scope"
    with pytest.raises(Conflict):
        register(unit_id="u1", kind="enterprise", year=2026, framework=FW, now=T0, active=False)


def test_registration_with_another_kinds_framework_is_refused() -> None:
    with pytest.raises(Conflict):
        register(unit_id="u1", kind="school", year=2026, framework=FW, now=T0)


def test_second_registration_of_a_year_is_an_illegal_transition() -> None:
    with pytest.raises(IllegalTransition) as info:
        refuse_second_registration(registered())
    assert info.value.allowed == ["record_criterion", "self_assess"]


def test_first_criterion_moves_registered_to_in_progress_without_event() -> None:
    out = record_criterion(registered(), FW, code="A6.2", result="met", evidence=["minutes.pdf"], note="ok", now=at(1))
    assert out.cycle.state == "in_progress" and out.events == []
    assert out.cycle.criteria["A6.2"].evidence == ("minutes.pdf",)
    again = record_criterion(out.cycle, FW, code="A6.2", result="not_met", now=at(2)).cycle
    assert again.criteria["A6.2"].result == "not_met" and [s.state for s in again.history] == ["registered",
                                                                                               "in_progress"]


def test_unknown_or_derived_criteria_cannot_be_recorded() -> None:
    with pytest.raises(NotFound):
        record_criterion(registered(), FW, code="Z9", result="met", now=at(1))
    with pytest.raises(Invalid):
        record_criterion(registered(), FW, code="A6.5", result="met", now=at(1))


def test_a_cycle_is_worked_against_its_own_framework_only() -> None:
    other = framework_in_force("enterprise", "79", date(2026, 2, 10))
    with pytest.raises(Conflict):
        record_criterion(registered(), other, code="A6.1", result="met", now=at(1))


def test_self_assessment_counts_met_over_total_excluding_na() -> None:
    cycle = registered()
    for code, result in (("A6.1", "met"), ("A6.2", "not_met"), ("A6.3", "na"), ("A6.4", "met")):
        cycle = record_criterion(cycle, FW, code=code, result=result, now=at(1)).cycle  # type: ignore[arg-type]
    out = self_assess(cycle, FW, now=at(2))
    # A6.5 (no disqualifying incident) is derived and met: 3 met of 4 counted.
    assert out.cycle.criteria["A6.5"].derived and out.cycle.criteria["A6.5"].result == "met"
    assert (out.cycle.criteria_met, out.cycle.criteria_total) == (3, 4)
    assert out.events == [UnitSelfAssessed(unit_id="u1", year=2026, criteria_met=3, criteria_total=4)]


def test_self_assessment_needs_every_scored_criterion() -> None:
    cycle = record_criterion(registered(), FW, code="A6.1", result="met", now=at(1)).cycle
    with pytest.raises(Invalid) as info:
        self_assess(cycle, FW, now=at(2))
    assert info.value.details == {"missing": ["A6.2", "A6.3", "A6.4"]}


def test_self_assessment_may_carry_the_results_directly_from_registered() -> None:
    results = {c.code: {"result": "met"} for c in FW.scored_criteria}
    out = self_assess(registered(), FW, now=at(2), results=results)
    assert out.cycle.state == "self_assessed" and out.cycle.criteria_met == 5


def test_school_violence_makes_only_the_school_violence_and_general_criteria_unmet() -> None:
    cycle = all_met(registered(SCHOOL_FW), SCHOOL_FW)
    cycle = note_incident(cycle, IncidentRef(incident_id="i1", category="school_violence", disqualifying=True,
                                             occurred_at=at(1)), now=at(1)).cycle
    out = self_assess(cycle, SCHOOL_FW, now=at(2)).cycle
    assert out.criteria["A7.7"].result == "not_met" and out.criteria["A7.7"].evidence == ("i1",)
    assert out.criteria["A7.8"].result == "not_met"
    assert (out.criteria_met, out.criteria_total) == (6, 8)


def test_appraisal_and_recognition_emit_their_events() -> None:
    cycle = to_state("submitted")
    appraised = appraise(cycle, recommended=True, note="good", now=at(4))
    assert appraised.events == [UnitAppraised(unit_id="u1", year=2026, recommended=True)]
    out = decide(appraised.cycle, recognized=True, decision_no="12/QĐ-UBND", rating="good", level="province",
                 now=at(5), previously_recognised=[2024, 2025])
    assert out.cycle.state == "recognised"
    assert out.events == [UnitCertified(unit_id="u1", year=2026, rating="good", decision_no="12/QĐ-UBND",
                                        decided_at=at(5), decided_by_level="province", consecutive_years=3,
                                        decided_on=date(2026, 2, 15))]


def test_recognition_needs_a_decision_number() -> None:
    with pytest.raises(Invalid):
        decide(to_state("appraised"), recognized=True, decision_no=" ", level="commune", now=at(5))


def test_recognition_without_recommendation_is_refused() -> None:
    cycle = appraise(to_state("submitted"), recommended=False, now=at(4)).cycle
    with pytest.raises(Conflict) as info:
        decide(cycle, recognized=True, decision_no="1", level="commune", now=at(5))
    assert info.value.code == "not_recommended"


def test_rating_without_recognition_is_refused() -> None:
    with pytest.raises(Invalid):
        decide(to_state("appraised"), recognized=False, decision_no=None, rating="pass", level="commune", now=at(5))


def disqualified(state: CycleState) -> Cycle:
    cycle = to_state(state)
    ref = IncidentRef(incident_id="inc-7", category="illegal_strike", disqualifying=True, occurred_at=at(0))
    return note_incident(cycle, ref, now=at(0)).cycle


def test_disqualifying_incident_refuses_recommendation_with_the_incident_listed() -> None:
    with pytest.raises(Conflict) as info:
        appraise(disqualified("submitted"), recommended=True, now=at(4))
    assert info.value.status == 409 and info.value.code == "disqualifying_incident"
    assert info.value.details == {"incidents": [{"incident_id": "inc-7", "category": "illegal_strike"}]}


def test_disqualifying_incident_makes_recognition_impossible() -> None:
    # The incident arrives after a favourable appraisal: the decision still cannot recognise.
    with pytest.raises(Conflict) as info:
        decide(disqualified("appraised"), recognized=True, decision_no="1", level="commune", now=at(5))
    assert info.value.details["incidents"][0]["incident_id"] == "inc-7"


def test_not_recognised_lists_unmet_criteria_incidents_and_note() -> None:
    cycle = registered()
    for crit in FW.scored_criteria:
        result = "not_met" if crit.code == "A6.3" else "met"
        cycle = record_criterion(cycle, FW, code=crit.code, result=result, now=at(1)).cycle  # type: ignore[arg-type]
    ref = IncidentRef(incident_id="inc-1", category="secret_leak", disqualifying=True, occurred_at=at(1))
    cycle = note_incident(cycle, ref, now=at(1)).cycle
    cycle = submit(self_assess(cycle, FW, now=at(2)).cycle, now=at(3), area_code=AREA, unit_name="Công ty A").cycle
    cycle = appraise(cycle, recommended=False, now=at(4)).cycle
    out = decide(cycle, recognized=False, decision_no="9/QĐ", level="commune", note="dossier late", now=at(5))
    reasons = ["criterion_not_met:A6.3", "disqualifying_incident:secret_leak", "appraisal:not_recommended",
               "note:dossier late"]
    assert out.cycle.state == "not_recognised" and list(out.cycle.decision.reasons) == reasons  # type: ignore[union-attr]
    assert out.events == [CertificationDenied(unit_id="u1", year=2026, reasons=reasons)]


def test_non_disqualifying_incident_does_not_block_recognition() -> None:
    cycle = to_state("appraised")
    ref = IncidentRef(incident_id="i2", category="strike_prevented", disqualifying=False, occurred_at=at(1))
    cycle = note_incident(cycle, ref, now=at(4)).cycle
    assert decide(cycle, recognized=True, decision_no="1", level="commune", now=at(5)).cycle.state == "recognised"


def test_disqualifying_incident_after_recognition_revokes_it() -> None:
    cycle = to_state("recognised")
    ref = IncidentRef(incident_id="inc-9", category="high_value_theft", disqualifying=True, occurred_at=at(2))
    out = note_incident(cycle, ref, now=at(30))
    assert out.cycle.state == "revoked" and out.cycle.revocation.incident_id == "inc-9"  # type: ignore[union-attr]
    assert out.events == [CertificationRevoked(unit_id="u1", year=2026, reason="disqualifying incident: "
                                               "high_value_theft", incident_id="inc-9")]


def test_noting_the_same_incident_twice_changes_nothing() -> None:
    ref = IncidentRef(incident_id="inc-9", category="high_value_theft", disqualifying=True, occurred_at=at(2))
    once = note_incident(to_state("recognised"), ref, now=at(30)).cycle
    again = note_incident(once, ref, now=at(31))
    assert again.cycle == once and again.events == []


@pytest.mark.parametrize("state", ["not_recognised", "revoked", "in_progress"])
def test_late_disqualifying_incident_outside_recognition_emits_nothing(state: CycleState) -> None:
    ref = IncidentRef(incident_id="x", category="illegal_strike", disqualifying=True, occurred_at=at(2))
    out = note_incident(to_state(state), ref, now=at(30))
    assert out.cycle.state == state and out.events == [] and out.cycle.incidents[-1].incident_id == "x"


def test_incident_of_another_year_is_refused() -> None:
    ref = IncidentRef(incident_id="x", category="illegal_strike", disqualifying=True,
                      occurred_at=datetime(2026, 11, 20, tzinfo=UTC))
    with pytest.raises(Invalid):
        note_incident(to_state("recognised"), ref, now=at(300))


def test_registration_carries_incidents_already_recorded_for_that_year() -> None:
    in_year = IncidentRef(incident_id="a", category="mass_complaint", disqualifying=True, occurred_at=at(-30))
    last_year = IncidentRef(incident_id="b", category="mass_complaint", disqualifying=True,
                            occurred_at=datetime(2025, 11, 1, tzinfo=UTC))
    cycle = registered(incidents=[in_year, last_year])
    assert [i.incident_id for i in cycle.incidents] == ["a"]


def test_manual_revocation_needs_a_reason() -> None:
    with pytest.raises(Invalid):
        revoke(to_state("recognised"), reason="  ", now=at(9))
    out = revoke(to_state("recognised"), reason="fraud in the dossier", now=at(9))
    assert out.events == [CertificationRevoked(unit_id="u1", year=2026, reason="fraud in the dossier")]


def test_history_records_every_state_with_its_time() -> None:
    assert [s.state for s in to_state("revoked").history] == [
        "registered", "in_progress", "self_assessed", "submitted", "appraised", "recognised", "revoked"]


def test_cycle_round_trips_through_json_dict() -> None:
    cycle = disqualified("not_recognised")
    import json

    assert Cycle.from_dict(json.loads(json.dumps(cycle.to_dict()))) == cycle


@pytest.mark.parametrize(
    ("history", "year", "expected"),
    [
        ([], 2026, 1),
        ([2025], 2026, 2),
        ([2023, 2024, 2025], 2026, 4),
        ([2023, 2025], 2026, 2),
        ([2024], 2026, 1),
        ([2027, 2025], 2026, 2),
    ],
)
def test_consecutive_years_counts_the_unbroken_run_ending_this_year(history: list[int], year: int,
                                                                     expected: int) -> None:
    assert consecutive_years(history, year) == expected


def test_revoked_year_breaks_the_consecutive_run() -> None:
    r2024 = to_state("recognised").model_copy(update={"year": 2024})
    r2025 = to_state("revoked").model_copy(update={"year": 2025})
    years = recognised_years([r2024, r2025])
    assert years == [2024]
    out = decide(to_state("appraised"), recognized=True, decision_no="1", level="commune", now=at(5),
                 previously_recognised=years)
    assert out.events[0].consecutive_years == 1  # type: ignore[attr-defined]
