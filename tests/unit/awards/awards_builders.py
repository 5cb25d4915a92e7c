"""Shared builders for the awards domain tests: rule sets, facts folded from events, awards in any status."""

from __future__ import annotations

from datetime import UTC, datetime

from services.awards.domain import Award, RuleSet, UnitFacts, propose
from services.awards.domain.evaluation import Proposal, proposal_key
from shared.contracts.events import UnitCertified

NOW = datetime(2025, 8, 19, 9, 0, tzinfo=UTC)


def certified(unit_id: str, year: int, *, rating: str | None = None, level: str = "commune") -> UnitCertified:
    return UnitCertified.model_validate({
        "unit_id": unit_id, "year": year, "rating": rating, "decision_no": f"QD-{year}",
        "decided_at": datetime(year, 12, 1, tzinfo=UTC), "decided_by_level": level, "consecutive_years": 1,
    })


def unit_facts(unit_id: str = "u-1", area: str = "26743", province: str = "01") -> UnitFacts:
    return UnitFacts(unit_id=unit_id, area_code=area, province_code=province)


def fold_years(facts: UnitFacts, years: list[int], **kwargs: str) -> UnitFacts:
    for year in years:
        facts = facts.with_certified(f"ev-{facts.unit_id}-{year}", certified(facts.unit_id, year, **kwargs))
    return facts


def make_award(rules: RuleSet, *, status: str = "proposed", award_type: str = "giay_khen", recipient: str = "u-1",
               year: int = 2024, level: str = "commune", province: str = "01", area: str = "26743",
               basis: tuple[str, ...] = ("ev-1", "ev-2")) -> Award:
    """An award pushed through the workflow to `status` by the real transitions."""
    from services.awards.domain import annul, approve, grant, reject, review

    proposal = Proposal(
        key=proposal_key(award_type, "unit", recipient, year), award_type=award_type, recipient_kind="unit",
        recipient_ref=recipient, year=year, basis=basis, level=level, area_code=area, province_code=province,
        rule_version=rules.version,
    )
    award = propose(proposal, rules, actor="system", now=NOW).award
    if status == "proposed":
        return award
    if status == "rejected":
        return reject(award, reason="incomplete dossier", actor="officer", now=NOW).award
    award = review(award, actor="officer", now=NOW).award
    if status == "reviewed":
        return award
    award = approve(award, rules, decision_no="QD-1", actor="chair", now=NOW, existing=[]).award
    if status == "approved":
        return award
    if status == "annulled":
        return annul(award, reason="fraud", actor="chair", now=NOW).award
    award = grant(award, certificate_id="c-1", actor="officer", now=NOW).award
    assert status == "granted"
    return award
