"""Rule evaluation: proposals owed by certification history and tips, idempotent under replay and reordering."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.awards.domain import (
    Nomination,
    PriorAward,
    Proposal,
    RuleSet,
    TipFacts,
    evaluate_tip,
    evaluate_unit,
    new_proposals,
    proposal_key,
    validate_nomination,
)
from shared.contracts.events import CertificationRevoked
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.rewards import reward_ref_for_receipt

from .awards_builders import certified, fold_years, unit_facts


def _types(proposals: list[Proposal]) -> list[tuple[str, int]]:
    return [(p.award_type, p.year) for p in proposals]


def test_unit_certified_two_years_running_is_owed_a_giay_khen(national: RuleSet) -> None:
    owed = evaluate_unit(fold_years(unit_facts(), [2023, 2024]), national)
    assert _types(owed) == [("giay_khen", 2024)]
    proposal = owed[0]
    assert proposal.recipient_kind == "unit" and proposal.recipient_ref == "u-1"
    assert proposal.basis == ("ev-u-1-2023", "ev-u-1-2024")
    assert proposal.level == "commune"
    assert proposal.rule_version == national.version
    assert proposal.key == proposal_key("giay_khen", "unit", "u-1", 2024)


def test_single_year_owes_nothing(national: RuleSet) -> None:
    assert evaluate_unit(fold_years(unit_facts(), [2024]), national) == []


def test_gap_breaks_the_run(national: RuleSet) -> None:
    assert evaluate_unit(fold_years(unit_facts(), [2021, 2023]), national) == []


def test_windows_do_not_overlap(national: RuleSet) -> None:
    owed = evaluate_unit(fold_years(unit_facts(), [2021, 2022, 2023, 2024]), national)
    assert [y for t, y in _types(owed) if t == "giay_khen"] == [2022, 2024]


def test_provincially_recognised_unit_is_decided_by_the_police_unit(national: RuleSet) -> None:
    owed = evaluate_unit(fold_years(unit_facts(), [2023, 2024], level="province"), national)
    assert owed[0].level == "police_unit"


def test_replaying_the_same_events_proposes_nothing_new(national: RuleSet) -> None:
    facts = fold_years(unit_facts(), [2023, 2024])
    first = new_proposals(evaluate_unit(facts, national), [])
    stored = [p.key for p in first]
    replayed = fold_years(facts, [2023, 2024])  # redelivery: same years, same event ids
    assert replayed == facts
    assert new_proposals(evaluate_unit(replayed, national), stored) == []


def test_redelivered_certification_with_a_new_event_id_keeps_the_first(national: RuleSet) -> None:
    facts = fold_years(unit_facts(), [2023, 2024])
    again = facts.with_certified("other-id", certified("u-1", 2024))
    assert evaluate_unit(again, national) == evaluate_unit(facts, national)


def test_year_two_arriving_before_year_one_ends_in_the_right_proposal(national: RuleSet) -> None:
    facts = fold_years(unit_facts(), [2024])
    assert evaluate_unit(facts, national) == []
    facts = fold_years(facts, [2023])
    owed = evaluate_unit(facts, national)
    assert _types(owed) == [("giay_khen", 2024)]
    assert owed[0].basis == ("ev-u-1-2023", "ev-u-1-2024")


@given(st.permutations([2019, 2020, 2021, 2022, 2023]), st.integers(min_value=0, max_value=4))
def test_any_arrival_order_and_duplicates_give_the_same_proposals(order: list[int], dup: int) -> None:
    from services.awards.domain import rules_in_force

    rules = rules_in_force(None, date(2025, 6, 1))
    expected = evaluate_unit(fold_years(unit_facts(), sorted(order)), rules)
    shuffled = fold_years(unit_facts(), [*order, order[dup]])
    assert evaluate_unit(shuffled, rules) == expected


def test_revoked_year_does_not_count_even_if_revocation_arrives_first(national: RuleSet) -> None:
    revocation = CertificationRevoked(unit_id="u-1", year=2023, reason="strike confirmed", incident_id="i-9")
    facts = unit_facts().with_revoked("rev-1", revocation)
    facts = fold_years(facts, [2023, 2024])
    assert evaluate_unit(facts, national) == []
    assert facts.with_revoked("rev-2", revocation) == facts


def test_revocation_re_anchors_the_run(national: RuleSet) -> None:
    facts = fold_years(unit_facts(), [2022, 2023, 2024])
    assert _types(evaluate_unit(facts, national)) == [("giay_khen", 2023)]
    facts = facts.with_revoked("rev-1", CertificationRevoked(unit_id="u-1", year=2022, reason="leak"))
    assert _types(evaluate_unit(facts, national)) == [("giay_khen", 2024)]


def _held(award_type: str, year: int, status: str = "granted") -> PriorAward:
    return PriorAward(award_type=award_type, recipient_kind="unit", recipient_ref="u-1", year=year, status=status)


def test_bang_khen_province_needs_its_run_and_a_prior_giay_khen(national: RuleSet) -> None:
    facts = fold_years(unit_facts(), [2022, 2023, 2024])
    assert "bang_khen_province" not in {p.award_type for p in evaluate_unit(facts, national)}
    owed = evaluate_unit(facts, national, [_held("giay_khen", 2023)])
    bang_khen = [p for p in owed if p.award_type == "bang_khen_province"]
    assert [p.year for p in bang_khen] == [2024] and bang_khen[0].level == "province"
    assert len(bang_khen[0].basis) == 3


@pytest.mark.parametrize("status", ["proposed", "reviewed", "rejected", "annulled"])
def test_prior_award_that_is_not_held_does_not_count(national: RuleSet, status: str) -> None:
    facts = fold_years(unit_facts(), [2022, 2023, 2024])
    owed = evaluate_unit(facts, national, [_held("giay_khen", 2023, status)])
    assert "bang_khen_province" not in {p.award_type for p in owed}


def test_overlay_threshold_changes_what_is_owed(hcmc: RuleSet) -> None:
    assert _types(evaluate_unit(fold_years(unit_facts(), [2023, 2024]), hcmc)) == []
    assert _types(evaluate_unit(fold_years(unit_facts(), [2022, 2023, 2024]), hcmc)) == [("giay_khen", 2024)]


def test_overlay_rating_requirement_ignores_lower_ratings(hcmc: RuleSet, national: RuleSet) -> None:
    years = list(range(2019, 2024))
    prior = [_held("bang_khen_province", 2018)]
    good = fold_years(unit_facts(), years, rating="good")
    passed = fold_years(unit_facts(), years, rating="pass")
    assert "bang_khen_mps" in {p.award_type for p in evaluate_unit(good, hcmc, prior)}
    assert "bang_khen_mps" not in {p.award_type for p in evaluate_unit(passed, hcmc, prior)}
    assert "bang_khen_mps" in {p.award_type for p in evaluate_unit(passed, national, prior)}


# --- tips ----------------------------------------------------------------------------------------------------
def _tip(**changes: object) -> TipFacts:
    base: dict[str, object] = {
        "tip_id": "t-1", "event_id": "ev-tip-1", "valuable": True, "outcome": "prosecuted",
        "reward_ref": reward_ref_for_receipt("AB12-CD34"), "verified_on": date(2025, 3, 2), "province_code": "79",
    }
    return TipFacts.model_validate({**base, **changes})


def test_valuable_tip_with_reward_ref_owes_a_reward_to_the_reporter_hash(national: RuleSet) -> None:
    owed = evaluate_tip(_tip(), national)
    assert len(owed) == 1
    reward = owed[0]
    assert (reward.award_type, reward.recipient_kind, reward.year) == ("tip_reward", "reporter", 2025)
    assert reward.recipient_ref == reward_ref_for_receipt("ab12-cd34")
    assert reward.basis == ("ev-tip-1",) and reward.level == "police_unit"


@pytest.mark.parametrize("changes", [{"valuable": False}, {"reward_ref": None}, {"outcome": "prank"}])
def test_tip_that_is_not_rewardable_owes_nothing(national: RuleSet, changes: dict[str, object]) -> None:
    assert evaluate_tip(_tip(**changes), national) == []


def test_replayed_tip_verification_proposes_nothing_new(national: RuleSet) -> None:
    stored = [p.key for p in evaluate_tip(_tip(), national)]
    assert new_proposals(evaluate_tip(_tip(), national), stored) == []


# --- manual nominations --------------------------------------------------------------------------------------
ON = date(2025, 8, 1)


def _medal(**changes: object) -> Nomination:
    base: dict[str, object] = {
        "award_type": "ky_niem_chuong", "recipient_kind": "person", "recipient_ref": "p-7", "year": 2025,
        "proposer": "police", "category": "security_team_member", "gender": "female",
        "service_started_on": date(2015, 7, 1), "evidence": ("doc-appointment-2015",), "province_code": "79",
    }
    return Nomination.model_validate({**base, **changes})


def test_woman_with_ten_years_in_a_security_team_is_eligible(national: RuleSet) -> None:
    proposal = validate_nomination(_medal(), national, [], on=ON)
    assert proposal.level == "ministry" and proposal.origin == "nomination"
    assert proposal.evidence == ("doc-appointment-2015",)


def test_man_needs_fifteen_years_in_a_security_team(national: RuleSet) -> None:
    with pytest.raises(Invalid) as raised:
        validate_nomination(_medal(gender="male"), national, [], on=ON)
    assert raised.value.code == "not_eligible"
    assert "10 years of service, 15 required" in raised.value.details["failed"]


def test_years_of_service_need_evidence(national: RuleSet) -> None:
    with pytest.raises(Invalid):
        validate_nomination(_medal(evidence=()), national, [], on=ON)


def test_service_years_count_only_full_years(national: RuleSet) -> None:
    with pytest.raises(Invalid):
        validate_nomination(_medal(service_started_on=date(2015, 8, 2)), national, [], on=ON)


def test_leader_needs_a_prior_commendation_and_no_serious_incident(national: RuleSet) -> None:
    leader = _medal(category="leader", gender="male")
    with pytest.raises(Invalid):
        validate_nomination(leader, national, [], on=ON)
    prior = [PriorAward(award_type="giay_khen", recipient_kind="person", recipient_ref="p-7", year=2020,
                        status="granted")]
    assert validate_nomination(leader, national, prior, on=ON).award_type == "ky_niem_chuong"
    assert validate_nomination(_medal(category="leader", prior_commendations=("QD-12/2019",)), national, [], on=ON)
    with pytest.raises(Invalid):
        validate_nomination(leader.model_copy(update={"serious_incident_in_unit": True}), national, prior, on=ON)


@pytest.mark.parametrize("status", ["proposed", "approved", "granted"])
def test_medal_is_awarded_once_per_person(national: RuleSet, status: str) -> None:
    prior = [PriorAward(award_type="ky_niem_chuong", recipient_kind="person", recipient_ref="p-7", year=2019,
                        status=status)]
    with pytest.raises(Conflict) as raised:
        validate_nomination(_medal(), national, prior, on=ON)
    assert raised.value.code == "already_awarded"


def test_annulled_medal_does_not_block_a_new_nomination(national: RuleSet) -> None:
    prior = [PriorAward(award_type="ky_niem_chuong", recipient_kind="person", recipient_ref="p-7", year=2019,
                        status="annulled")]
    assert validate_nomination(_medal(), national, prior, on=ON)


def test_person_under_prosecution_is_barred(national: RuleSet) -> None:
    with pytest.raises(Invalid) as raised:
        validate_nomination(_medal(standing=("prosecuted",)), national, [], on=ON)
    assert raised.value.code == "barred"


def test_person_under_discipline_is_deferred(national: RuleSet) -> None:
    with pytest.raises(Conflict) as raised:
        validate_nomination(_medal(standing=("disciplined",)), national, [], on=ON)
    assert raised.value.code == "deferred"


def test_nomination_by_a_proposer_the_rules_do_not_name_is_forbidden(national: RuleSet) -> None:
    with pytest.raises(Forbidden):
        validate_nomination(_medal(proposer="commune"), national, [], on=ON)


def test_nomination_for_a_wrong_recipient_kind_or_level_is_invalid(national: RuleSet) -> None:
    with pytest.raises(Invalid):
        validate_nomination(_medal(recipient_kind="unit"), national, [], on=ON)
    with pytest.raises(Invalid):
        validate_nomination(_medal(level="commune"), national, [], on=ON)


def test_nomination_for_an_unknown_award_type_is_not_found(national: RuleSet) -> None:
    with pytest.raises(NotFound):
        validate_nomination(_medal(award_type="huan_chuong"), national, [], on=ON)


def test_manual_collective_nomination_needs_no_individual_evidence(national: RuleSet) -> None:
    nomination = Nomination(award_type="giay_khen", recipient_kind="unit", recipient_ref="u-3", year=2025,
                            proposer="commune", level="commune", basis=("ev-a",))
    facts = fold_years(unit_facts("u-3"), [2024, 2025])
    assert validate_nomination(nomination, national, [], on=ON, unit=facts).basis == ("ev-a",)


def _collective(award_type: str = "bang_khen_province", **kw: Any) -> Nomination:
    return Nomination.model_validate({"award_type": award_type, "recipient_kind": "unit", "recipient_ref": "u-1",
                                      "year": 2025, "proposer": "police", **kw})


def test_a_collective_nomination_missing_the_rule_is_refused_with_the_unmet_conditions(national: RuleSet) -> None:
    never = unit_facts("u-1")
    with pytest.raises(Invalid) as refused:
        validate_nomination(_collective(), national, [], on=ON, unit=never)
    assert refused.value.code == "rule_not_met" and refused.value.status == 422
    assert refused.value.details == {"conditions": [
        {"condition": "consecutive_years", "required": 3, "actual": 0, "ending": 2025},
        {"condition": "requires_prior", "award_type": "giay_khen"}]}
    # Two recognised years, but not consecutive: the run ending in the nominated year is one year long.
    gap = fold_years(unit_facts("u-1"), [2023, 2025])
    with pytest.raises(Invalid) as short:
        validate_nomination(_collective("giay_khen", level="commune", proposer="commune"), national, [], on=ON,
                            unit=gap)
    assert short.value.details == {"conditions": [
        {"condition": "consecutive_years", "required": 2, "actual": 1, "ending": 2025}]}
    prior = [PriorAward(award_type="giay_khen", recipient_kind="unit", recipient_ref="u-1", year=2023,
                        status="granted")]
    met = fold_years(unit_facts("u-1"), [2023, 2024, 2025])
    assert validate_nomination(_collective(), national, prior, on=ON, unit=met).exception is None


def test_where_the_rule_allows_exceptions_a_justified_nomination_is_marked_as_one(national: RuleSet) -> None:
    bang_khen = national.award_types["bang_khen_province"]
    assert bang_khen.collective is not None and bang_khen.collective.allows_exception is False  # the default
    allowing = bang_khen.model_copy(update={"collective": bang_khen.collective.model_copy(
        update={"allows_exception": True})})
    lenient = national.model_copy(update={"award_types": {**national.award_types, "bang_khen_province": allowing}})
    never = unit_facts("u-1")
    with pytest.raises(Invalid) as unjustified:
        validate_nomination(_collective(justification="  "), lenient, [], on=ON, unit=never)
    assert unjustified.value.code == "justification_required"
    proposal = validate_nomination(_collective(justification="rescued staff in the 2025 flood"), lenient, [],
                                   on=ON, unit=never)
    assert proposal.exception is not None
    assert proposal.exception.justification == "rescued staff in the 2025 flood"
    assert [c["condition"] for c in proposal.exception.unmet] == ["consecutive_years", "requires_prior"]
