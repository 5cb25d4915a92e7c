"""Pure rule evaluation: which award proposals the known facts owe, each with a deterministic key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import (
    CertificationRevoked,
    Rating,
    RecipientKind,
    RecognitionImported,
    TipOutcome,
    UnitCertified,
)
from shared.errors import Conflict, Forbidden, Invalid

from .rules import RATING_ORDER, CollectiveRule, Gender, IndividualRule, Proposer, RuleSet

# Statuses of an earlier award that count as "holding" it (a proposal, a rejection or an annulment does not).
HELD_STATUSES = frozenset({"approved", "granted", "held"})
# Statuses that make a person "already awarded" for once-per-person awards: a pending proposal also blocks a
# second nomination, otherwise two proposals for the same medal could both be approved.
BLOCKING_STATUSES = frozenset({"proposed", "reviewed", "approved", "granted", "held"})
Certifier = Literal["commune", "province"]
_AWARD_ID_NAMESPACE = uuid.UUID("6f1f1d2e-6a53-4d8e-9d7c-2b0b5a7e4a10")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def proposal_key(award_type: str, recipient_kind: str, recipient_ref: str, year: int) -> str:
    """Hex sha256 over the identity of a proposal; the same facts always give the same key."""
    material = "\x1f".join(("antq-award-v1", award_type, recipient_kind, recipient_ref, str(year)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def award_id_for_key(key: str) -> str:
    """The award id of a proposal key: a uuid5, so a replayed proposal collides with the stored one."""
    return str(uuid.uuid5(_AWARD_ID_NAMESPACE, key))


# --- facts ---------------------------------------------------------------------------------------------------
class CertificationRecord(_Frozen):
    year: int
    event_id: str | None = None
    rating: Rating | None = None
    decided_by_level: str | None = None
    revoked: bool = False
    revoked_event_id: str | None = None
    # A past year from the history import (RecognitionImported): it counts toward runs, but a window ending in it
    # owes nothing now (that year's awards were decided before antq, and are imported as held).
    imported: bool = False

    @property
    def counts(self) -> bool:
        """True when the year is a standing recognition (certified and not revoked)."""
        return self.event_id is not None and not self.revoked


class PriorAward(_Frozen):
    """An award already known to the service, as far as rule evaluation needs it."""

    award_type: str
    recipient_kind: RecipientKind
    recipient_ref: str
    year: int
    status: str


class UnitFacts(_Frozen):
    """Everything the collective rules read about one unit; built by folding events in any order."""

    unit_id: str
    area_code: str
    province_code: str
    certifications: dict[int, CertificationRecord] = Field(default_factory=dict)

    def with_certified(self, event_id: str, event: UnitCertified) -> UnitFacts:
        """Fold a UnitCertified. The first event id for a year wins, so a redelivery changes nothing."""
        current = self.certifications.get(event.year, CertificationRecord(year=event.year))
        if current.event_id is not None:
            return self
        record = current.model_copy(
            update={"event_id": event_id, "rating": event.rating, "decided_by_level": event.decided_by_level}
        )
        return self.model_copy(update={"certifications": {**self.certifications, event.year: record}})

    def with_imported(self, event_id: str, event: RecognitionImported) -> UnitFacts:
        """Fold an imported past recognition; a year antq already knows a recognition of keeps it."""
        current = self.certifications.get(event.year, CertificationRecord(year=event.year))
        if current.event_id is not None or not event.recognized:
            return self
        record = current.model_copy(update={"event_id": event_id, "rating": event.rating,
                                            "decided_by_level": event.decided_by_level, "imported": True})
        return self.model_copy(update={"certifications": {**self.certifications, event.year: record}})

    def with_revoked(self, event_id: str, event: CertificationRevoked) -> UnitFacts:
        """Fold a CertificationRevoked; a revocation seen before its certification still sticks (tombstone)."""
        current = self.certifications.get(event.year, CertificationRecord(year=event.year))
        if current.revoked:
            return self
        record = current.model_copy(update={"revoked": True, "revoked_event_id": event_id})
        return self.model_copy(update={"certifications": {**self.certifications, event.year: record}})


class TipFacts(_Frozen):
    tip_id: str
    event_id: str
    valuable: bool
    outcome: TipOutcome
    reward_ref: str | None = None
    unit_id: str | None = None
    verified_on: date
    area_code: str | None = None
    province_code: str | None = None


class RuleException(_Frozen):
    """A collective nomination that misses the rule, let through as the rule allows: what it misses and why."""

    unmet: tuple[dict[str, Any], ...]
    justification: str


class Proposal(_Frozen):
    """A proposal the rules owe (or a validated manual nomination), before it becomes an Award."""

    key: str
    award_type: str
    recipient_kind: RecipientKind
    recipient_ref: str
    year: int
    basis: tuple[str, ...]
    level: str
    area_code: str | None = None
    province_code: str | None = None
    rule_version: str
    evidence: tuple[str, ...] = ()
    origin: str = "rule"
    exception: RuleException | None = None  # a manual nomination let through although it misses the rule

    @property
    def award_id(self) -> str:
        return award_id_for_key(self.key)


# --- collective rules (from UnitCertified) -------------------------------------------------------------------
def _rating_ok(record: CertificationRecord, min_rating: str | None) -> bool:
    if min_rating is None:
        return True
    # A province that does not rate leaves rating empty; a rule that asks for a rating then cannot be met.
    return record.rating is not None and RATING_ORDER[record.rating] >= RATING_ORDER[min_rating]


def _runs(facts: UnitFacts, min_rating: str | None) -> list[list[CertificationRecord]]:
    """Maximal runs of consecutive years that count, oldest first."""
    runs: list[list[CertificationRecord]] = []
    for year in sorted(facts.certifications):
        record = facts.certifications[year]
        if not (record.counts and _rating_ok(record, min_rating)):
            continue
        if runs and runs[-1][-1].year == year - 1:
            runs[-1].append(record)
        else:
            runs.append([record])
    return runs


def _holds(prior: Iterable[PriorAward], award_type: str, recipient_ref: str, before_year: int) -> bool:
    return any(
        p.award_type == award_type and p.recipient_ref == recipient_ref and p.year < before_year
        and p.status in HELD_STATUSES
        for p in prior
    )


def evaluate_unit(facts: UnitFacts, rules: RuleSet, prior_awards: Sequence[PriorAward] = ()) -> list[Proposal]:
    """Every collective proposal the unit's history owes, in a stable order.

    Windows are anchored at the start of each run: with N=2 and years 2021-2024 recognised, proposals are owed for
    2022 and 2024. A window that ends in an imported past year owes nothing (see `CertificationRecord.imported`);
    one that ends in a year decided in antq is owed at once, however many of its years were imported. Because
    the result depends only on the set of facts, not on their arrival order, replaying or
    reordering events yields the same keys; the caller stores only keys it has not seen.
    """
    owed: list[Proposal] = []
    for code in sorted(rules.award_types):
        award_type = rules.award_types[code]
        rule = award_type.collective
        if rule is None or "unit" not in award_type.recipient_kinds:
            continue
        for run in _runs(facts, rule.min_rating):
            for position in range(rule.consecutive_years, len(run) + 1, rule.consecutive_years):
                window = run[position - rule.consecutive_years:position]
                year = window[-1].year
                if window[-1].imported:
                    continue  # a past year: its awards were decided before antq (imported as held, if any)
                if not all(_holds(prior_awards, p, facts.unit_id, year) for p in rule.requires_prior):
                    continue
                certifier: Certifier = "province" if window[-1].decided_by_level == "province" else "commune"
                level = award_type.level_by_certifier.get(certifier, award_type.approving_levels[0])
                owed.append(
                    Proposal(
                        key=proposal_key(code, "unit", facts.unit_id, year),
                        award_type=code,
                        recipient_kind="unit",
                        recipient_ref=facts.unit_id,
                        year=year,
                        basis=tuple(r.event_id for r in window if r.event_id is not None),
                        level=level,
                        area_code=facts.area_code,
                        province_code=facts.province_code,
                        rule_version=rules.version,
                    )
                )
    return owed


# --- tip rewards (from TipVerified) --------------------------------------------------------------------------
def evaluate_tip(tip: TipFacts, rules: RuleSet) -> list[Proposal]:
    """A reward proposal for a valuable tip that carries a reward_ref; the reporter is known only by that hash."""
    owed: list[Proposal] = []
    if not tip.valuable or not tip.reward_ref:
        return owed
    for code in sorted(rules.award_types):
        award_type = rules.award_types[code]
        if award_type.tip is None or tip.outcome not in award_type.tip.outcomes:
            continue
        year = tip.verified_on.year
        owed.append(
            Proposal(
                key=proposal_key(code, "reporter", tip.reward_ref, year),
                award_type=code,
                recipient_kind="reporter",
                recipient_ref=tip.reward_ref,
                year=year,
                basis=(tip.event_id,),
                level=award_type.approving_levels[0],
                area_code=tip.area_code,
                province_code=tip.province_code,
                rule_version=rules.version,
            )
        )
    return owed


def new_proposals(owed: Iterable[Proposal], known_keys: Iterable[str]) -> list[Proposal]:
    """The owed proposals whose key is not stored yet: the idempotency step of every evaluation."""
    known = set(known_keys)
    fresh: list[Proposal] = []
    for proposal in owed:
        if proposal.key not in known:
            known.add(proposal.key)
            fresh.append(proposal)
    return fresh


# --- manual nominations (POST /awards) -----------------------------------------------------------------------
class Nomination(_Frozen):
    """A manual nomination; `category`, `gender` and `service_started_on` are read for the medal."""

    award_type: str
    recipient_kind: RecipientKind
    recipient_ref: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=2000, le=2200)
    proposer: Proposer
    level: str | None = None
    area_code: str | None = None
    province_code: str | None = None
    basis: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    category: str | None = None
    gender: Gender | None = None
    service_started_on: date | None = None
    prior_commendations: tuple[str, ...] = ()
    serious_incident_in_unit: bool = False
    standing: tuple[str, ...] = ()  # e.g. ("prosecuted",) or ("disciplined",): barred or deferred conditions
    # Why a unit that misses the collective thresholds should have the award anyway (rules allowing exceptions).
    justification: str | None = Field(default=None, max_length=2000)


def unmet_collective(facts: UnitFacts, rule: CollectiveRule, prior_awards: Sequence[PriorAward], *,
                     year: int) -> list[dict[str, Any]]:
    """The conditions of a collective rule a unit does not meet for `year`: the run of standing recognitions
    (at the rule's minimum rating) ending in that year, and the awards it must already hold."""
    unmet: list[dict[str, Any]] = []
    counted = {r.year for run in _runs(facts, rule.min_rating) for r in run}
    length = 0
    while year - length in counted:
        length += 1
    if length < rule.consecutive_years:
        condition: dict[str, Any] = {"condition": "consecutive_years", "required": rule.consecutive_years,
                                     "actual": length, "ending": year}
        if rule.min_rating is not None:
            condition["min_rating"] = rule.min_rating
        unmet.append(condition)
    unmet.extend({"condition": "requires_prior", "award_type": prior} for prior in rule.requires_prior
                 if not _holds(prior_awards, prior, facts.unit_id, year))
    return unmet


def full_years_between(start: date, end: date) -> int:
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return max(years, 0)


def validate_nomination(
    nomination: Nomination, rules: RuleSet, prior_awards: Sequence[PriorAward], *, on: date,
    unit: UnitFacts | None = None,
) -> Proposal:
    """Check a manual nomination against the rules in force; returns the Proposal (with `exception` set when a
    collective nomination misses a rule that allows exceptions), or raises.

    Raises NotFound (unknown type), Forbidden (proposer/level not allowed), Invalid (not eligible; details list the
    failed rules; code "rule_not_met" with the unmet `conditions` for a unit missing the collective rule, code
    "justification_required" when the rule allows an exception but none was given), Conflict code
    "already_awarded" (once per person) or code "deferred" (while disciplined). `unit` is what the service knows
    of the unit's recognitions (a collective nomination of a unit it knows nothing of misses every threshold).
    """
    award_type = rules.award_type(nomination.award_type)
    if nomination.recipient_kind not in award_type.recipient_kinds:
        raise Invalid(
            f"{nomination.award_type} is not awarded to a {nomination.recipient_kind}",
            details={"allowed": list(award_type.recipient_kinds)},
        )
    if nomination.proposer not in award_type.proposers:
        raise Forbidden(
            f"a {nomination.proposer} may not propose {nomination.award_type}",
            details={"allowed": list(award_type.proposers)},
        )
    level = nomination.level or award_type.approving_levels[0]
    if level not in award_type.approving_levels:
        raise Invalid(
            f"{nomination.award_type} is not approved at level {level}",
            details={"allowed": list(award_type.approving_levels)},
        )
    individual = award_type.individual
    if individual is not None:
        _check_individual(nomination, individual, prior_awards, on=on)
    exception = None
    if award_type.collective is not None and nomination.recipient_kind == "unit":
        exception = _check_collective(nomination, award_type.collective, prior_awards, unit)
    return Proposal(
        key=proposal_key(nomination.award_type, nomination.recipient_kind, nomination.recipient_ref, nomination.year),
        award_type=nomination.award_type,
        recipient_kind=nomination.recipient_kind,
        recipient_ref=nomination.recipient_ref,
        year=nomination.year,
        basis=nomination.basis,
        level=level,
        area_code=nomination.area_code,
        province_code=nomination.province_code,
        rule_version=rules.version,
        evidence=nomination.evidence,
        origin="nomination",
        exception=exception,
    )


def _check_collective(nomination: Nomination, rule: CollectiveRule, prior_awards: Sequence[PriorAward],
                      unit: UnitFacts | None) -> RuleException | None:
    facts = unit or UnitFacts(unit_id=nomination.recipient_ref, area_code="", province_code="")
    mine = [p for p in prior_awards if p.recipient_kind == "unit"]
    unmet = unmet_collective(facts, rule, mine, year=nomination.year)
    if not unmet:
        return None
    if not rule.allows_exception:
        raise Invalid(f"the unit does not meet the rule for {nomination.award_type} in {nomination.year}",
                      code="rule_not_met", details={"conditions": unmet})
    justification = (nomination.justification or "").strip()
    if not justification:
        raise Invalid("the unit does not meet the rule: an exception needs the nominator's justification",
                      code="justification_required", details={"field": "justification", "conditions": unmet})
    return RuleException(unmet=tuple(unmet), justification=justification)


def check_standing(standing: Iterable[str], rule: IndividualRule, *,
                   details: Mapping[str, object] | None = None) -> None:
    """Barred while prosecuted (Invalid `barred`), deferred while disciplined (Conflict `deferred`): the
    conditions the rule lists, checked at nomination and again at approval. `details` are added to the error's."""
    held = set(standing)
    barred = sorted(held & set(rule.barred_while))
    if barred:
        raise Invalid(f"not eligible while {', '.join(barred)}", code="barred",
                      details={"standing": barred, **(details or {})})
    deferred = sorted(held & set(rule.deferred_while))
    if deferred:
        raise Conflict(f"deferred while {', '.join(deferred)}", code="deferred",
                       details={"standing": deferred, **(details or {})})


def _check_individual(
    nomination: Nomination, rule: IndividualRule, prior_awards: Sequence[PriorAward], *, on: date
) -> None:
    check_standing(nomination.standing, rule)
    mine = [
        p for p in prior_awards
        if p.recipient_ref == nomination.recipient_ref and p.recipient_kind == nomination.recipient_kind
    ]
    if rule.once_per_person and any(
        p.award_type == nomination.award_type and p.status in BLOCKING_STATUSES for p in mine
    ):
        raise Conflict(
            f"{nomination.award_type} is awarded once per person", code="already_awarded",
            details={"recipient_ref": nomination.recipient_ref},
        )
    if nomination.category not in rule.categories:
        raise Invalid("category is required for this award", details={"allowed": sorted(rule.categories)})
    category = rule.categories[nomination.category]
    failed: list[str] = []
    if nomination.gender is None:
        failed.append("gender is required for the years-of-service threshold")
    if nomination.service_started_on is None or not nomination.evidence:
        failed.append("years of service need a start date and evidence")
    if nomination.gender is not None and nomination.service_started_on is not None:
        years = full_years_between(nomination.service_started_on, on)
        needed = category.min_years[nomination.gender]
        if years < needed:
            failed.append(f"{years} years of service, {needed} required")
    if category.requires_prior_any_of:
        held = any(p.award_type in category.requires_prior_any_of and p.status in HELD_STATUSES for p in mine)
        if not held and not nomination.prior_commendations:
            failed.append(f"a prior commendation is required ({', '.join(category.requires_prior_any_of)})")
    if category.requires_no_serious_incident and nomination.serious_incident_in_unit:
        failed.append("a serious incident occurred in the unit")
    if failed:
        raise Invalid("nomination is not eligible", code="not_eligible", details={"failed": failed})
