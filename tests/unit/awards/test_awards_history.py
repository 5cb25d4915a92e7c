"""Imported history: past recognitions count toward runs but owe nothing themselves; awards held count as held."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.awards.domain import Nomination, PriorAward, RuleSet, UnitFacts, evaluate_unit, hold, proposal_key
from services.awards.domain.evaluation import award_id_for_key, validate_nomination
from services.awards.domain.workflow import TRANSITIONS
from shared.contracts.events import RecognitionImported
from shared.errors import Conflict

from .awards_builders import fold_years, unit_facts

NOW = datetime(2026, 12, 3, 3, tzinfo=UTC)


def imported(facts: UnitFacts, years: list[int], *, recognized: bool = True) -> UnitFacts:
    for year in years:
        facts = facts.with_imported(f"imp-{year}", RecognitionImported(
            unit_id=facts.unit_id, year=year, recognized=recognized, decision_no=f"{year}/QĐ",
            decided_by_level="commune", area_code="01.00004"))
    return facts


def test_imported_years_alone_owe_nothing(national: RuleSet) -> None:
    assert evaluate_unit(imported(unit_facts(), [2022, 2023, 2024, 2025]), national) == []


def test_the_first_year_decided_in_antq_closes_a_window_of_imported_years_at_once(national: RuleSet) -> None:
    facts = fold_years(imported(unit_facts(), [2024, 2025, 2026]), [2027])
    owed = evaluate_unit(facts, national, [PriorAward(award_type="giay_khen", recipient_kind="unit",
                                                      recipient_ref="u-1", year=2025, status="held")])
    assert [(p.award_type, p.year) for p in owed] == [("giay_khen", 2027)]
    # Three years counted from the run's start with a Giấy khen held: the provincial Bằng khen needs 3 + a prior.
    facts3 = fold_years(imported(unit_facts(), [2025, 2026]), [2027])
    owed3 = evaluate_unit(facts3, national, [PriorAward(award_type="giay_khen", recipient_kind="unit",
                                                        recipient_ref="u-1", year=2026, status="held")])
    assert ("bang_khen_province", 2027) in [(p.award_type, p.year) for p in owed3]
    assert owed3[-1].basis == ("imp-2025", "imp-2026", "ev-u-1-2027")


def test_an_imported_refusal_or_a_year_known_already_changes_nothing() -> None:
    facts = unit_facts()
    assert imported(facts, [2024], recognized=False) == facts
    live = fold_years(facts, [2024])
    assert imported(live, [2024]) == live


def test_an_award_held_blocks_a_second_medal_and_only_annulment_follows(national: RuleSet) -> None:
    key = proposal_key("giay_khen", "unit", "u-1", 2025)
    step = hold(key=key, award_id=award_id_for_key(key), award_type="giay_khen", recipient_kind="unit",
                recipient_ref="u-1", year=2025, decision_no="45/QĐ", level="commune", area_code="01.00004",
                province_code="01", rules=national, basis=("imp",), actor="system", now=NOW)
    assert step.award.status == "held" and step.award.origin == "imported" and step.events == ()
    assert TRANSITIONS["held"] == {"annul": "annulled"}
    medal = PriorAward(award_type="ky_niem_chuong", recipient_kind="person", recipient_ref="CB-1", year=2020,
                       status="held")
    nomination = Nomination(award_type="ky_niem_chuong", recipient_kind="person", recipient_ref="CB-1", year=2026,
                            proposer="police", category="security_team_member", gender="male")
    with pytest.raises(Conflict) as caught:
        validate_nomination(nomination, national, [medal], on=NOW.date())
    assert caught.value.code == "already_awarded"
