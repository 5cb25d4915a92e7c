"""The award approval state machine: each step returns the new state, catalogue events and an audit entry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import (
    AwardAnnulled,
    AwardApproved,
    AwardGranted,
    AwardProposed,
    AwardRejected,
    AwardRestored,
    EventData,
    RecipientKind,
)
from shared.errors import Conflict, Forbidden, IllegalTransition, Invalid

from .evaluation import Proposal, check_standing
from .rules import RuleSet

AwardStatus = Literal["proposed", "reviewed", "approved", "rejected", "granted", "annulled", "held"]
Action = Literal["propose", "review", "approve", "reject", "grant", "annul", "restore_grant", "restore_approval",
                 "reopen", "import"]

# The whole machine in one table: status -> action -> next status. Approving a proposal that was not reviewed
# explicitly passes through `reviewed`: the approval records the review too (see `approve`). The `restore_*` and
# `reopen` steps are the system's alone: they undo what a revocation did once its recognition is restored
# (`restore_on_recognition`), back to granted (with a certificate), approved, or proposed.
TRANSITIONS: dict[str, dict[str, AwardStatus]] = {
    "proposed": {"review": "reviewed", "approve": "approved", "reject": "rejected"},
    "reviewed": {"approve": "approved", "reject": "rejected"},
    "approved": {"grant": "granted", "annul": "annulled"},
    "granted": {"annul": "annulled"},
    # Decided before antq and imported from the province's records (AwardHeldImported): it counts as held, has no
    # certificate signed by antq, and may be annulled like any other.
    "held": {"annul": "annulled"},
    "rejected": {"reopen": "proposed"},
    "annulled": {"restore_grant": "granted", "restore_approval": "approved"},
}
SYSTEM_ACTIONS: frozenset[str] = frozenset({"restore_grant", "restore_approval", "reopen"})
# Closed for people: only the system reopens an award, and only one a revocation closed.
TERMINAL: frozenset[str] = frozenset(
    s for s, steps in TRANSITIONS.items() if not set(steps) - SYSTEM_ACTIONS)
# Awards that use up quota: an approval is a commitment of the approving authority even before the ceremony.
COUNTED_FOR_QUOTA: frozenset[str] = frozenset({"approved", "granted", "held"})
SYSTEM_ACTOR = "system"


class Award(BaseModel):
    """One award through its life; every change produces a new instance (`revision` grows by one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    award_id: str
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
    status: AwardStatus = "proposed"
    proposed_at: datetime
    review_due_at: datetime
    reviewed_at: datetime | None = None
    decision_no: str | None = None
    approved_by_level: str | None = None
    approved_at: datetime | None = None
    certificate_id: str | None = None
    granted_at: datetime | None = None
    reason: str | None = None
    closed_at: datetime | None = None
    # The CertificationRevoked event that annulled or rejected the award (None if people closed it): only such an
    # award comes back when that recognition is restored.
    closed_by_revocation: str | None = None
    updated_at: datetime
    revision: int = Field(default=1, ge=1)

    @property
    def allowed_actions(self) -> list[str]:
        return sorted(set(TRANSITIONS[self.status]) - SYSTEM_ACTIONS)

    def review_overdue(self, now: datetime) -> bool:
        """True while the award waits for a decision past its level's review deadline."""
        return self.status in {"proposed", "reviewed"} and now > self.review_due_at


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    award_id: str
    action: Action
    actor: str
    at: datetime
    from_status: AwardStatus | None
    to_status: AwardStatus
    note: str | None = None


@dataclass(frozen=True)
class Step:
    """The outcome of one command: persist `award` and `audit`, append `events` to the outbox, in one transaction.

    `through` are the steps the command took on the way, in order (an approval of a proposal not yet reviewed
    passes through `reviewed`): their audit entries and events come before this step's, and `award` already
    carries their changes.
    """

    award: Award
    events: tuple[EventData, ...]
    audit: AuditEntry
    through: tuple[Step, ...] = ()

    @property
    def path(self) -> tuple[Step, ...]:
        """Every step taken, in order: the steps passed through, then this one."""
        return (*self.through, self)


def review_due(rules: RuleSet, level: str, proposed_at: datetime) -> datetime:
    return proposed_at + timedelta(days=rules.review_days(level))


def _require_text(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise Invalid(f"{field} is required", details={"field": field})
    if len(text) > 2000:
        raise Invalid(f"{field} is too long", details={"field": field, "max_length": 2000})
    return text


def _advance(award: Award, action: Action) -> AwardStatus:
    steps = TRANSITIONS[award.status]
    if action not in steps:
        raise IllegalTransition(
            f"cannot {action} an award that is {award.status}",
            state=award.status,
            allowed=list(steps),
            details={"award_id": award.award_id, "action": action},
        )
    return steps[action]


def _step(award: Award, action: Action, *, actor: str, now: datetime, note: str | None, events: Sequence[EventData],
          **changes: object) -> Step:
    to_status = _advance(award, action)
    updated = award.model_copy(
        update={**changes, "status": to_status, "updated_at": now, "revision": award.revision + 1}
    )
    audit = AuditEntry(award_id=award.award_id, action=action, actor=actor, at=now, from_status=award.status,
                       to_status=to_status, note=note)
    return Step(updated, tuple(events), audit)


# --- commands ------------------------------------------------------------------------------------------------
def propose(proposal: Proposal, rules: RuleSet, *, actor: str, now: datetime) -> Step:
    """Turn an owed proposal or a validated nomination into a new award in `proposed`."""
    rules.award_type(proposal.award_type)
    award = Award(
        award_id=proposal.award_id,
        key=proposal.key,
        award_type=proposal.award_type,
        recipient_kind=proposal.recipient_kind,
        recipient_ref=proposal.recipient_ref,
        year=proposal.year,
        basis=proposal.basis,
        level=proposal.level,
        area_code=proposal.area_code,
        province_code=proposal.province_code,
        rule_version=proposal.rule_version,
        evidence=proposal.evidence,
        origin=proposal.origin,
        proposed_at=now,
        review_due_at=review_due(rules, proposal.level, now),
        updated_at=now,
    )
    event = AwardProposed(
        award_id=award.award_id, award_type=award.award_type, recipient_kind=award.recipient_kind,
        recipient_ref=award.recipient_ref, year=award.year, basis=list(award.basis), level=award.level,
        area_code=award.area_code,
    )
    audit = AuditEntry(award_id=award.award_id, action="propose", actor=actor, at=now, from_status=None,
                       to_status="proposed", note=proposal.origin)
    return Step(award, (event,), audit)


def hold(*, key: str, award_id: str, award_type: str, recipient_kind: RecipientKind, recipient_ref: str, year: int,
         decision_no: str, level: str, area_code: str | None, province_code: str | None, rules: RuleSet,
         basis: tuple[str, ...], actor: str, now: datetime) -> Step:
    """An award decided before antq, imported from the province's records: `held` from the start, with its
    decision number. No catalogue event: nobody is asked to approve it and nobody is told of it as news; a
    certificate is not signed for it (the paper one stands)."""
    rules.award_type(award_type)
    award = Award(award_id=award_id, key=key, award_type=award_type, recipient_kind=recipient_kind,
                  recipient_ref=recipient_ref, year=year, basis=basis, level=level, area_code=area_code,
                  province_code=province_code, rule_version=rules.version, origin="imported", status="held",
                  proposed_at=now, review_due_at=now, decision_no=decision_no, updated_at=now, closed_at=None)
    audit = AuditEntry(award_id=award_id, action="import", actor=actor, at=now, from_status=None, to_status="held",
                       note="imported")
    return Step(award, (), audit)


def review(award: Award, *, actor: str, now: datetime, note: str | None = None) -> Step:
    """The managing level has examined the dossier; no catalogue event (AwardProposed already announced it)."""
    return _step(award, "review", actor=actor, now=now, note=note, events=(), reviewed_at=now)


def quota_usage(award: Award, rules: RuleSet, existing: Iterable[Award]) -> tuple[int, int | None]:
    """(approved+granted awards already counted against this award's quota, the quota or None if unlimited)."""
    quota = rules.award_type(award.award_type).quota

    def scope_of(item: Award) -> str | None:
        return item.province_code if quota.scope == "province" else item.area_code

    scope = scope_of(award)
    used = sum(
        1 for other in existing
        if other.award_id != award.award_id and other.award_type == award.award_type and other.year == award.year
        and other.status in COUNTED_FOR_QUOTA and scope_of(other) == scope
    )
    return used, quota.limit_for(scope or "")


def approve(award: Award, rules: RuleSet, *, decision_no: str, actor: str, now: datetime,
            existing: Iterable[Award], level: str | None = None, note: str | None = None,
            standing: Iterable[str] = ()) -> Step:
    """Approve at the proposal's level with a decision number; Conflict `quota_exceeded` when the quota is full.

    `existing` are the stored awards of the same type and year (the handler may pass more; they are filtered).
    A proposal not reviewed yet is reviewed by the same actor at the same time (returned in `through`), so the
    contract's propose → approve works and the history still shows the review. For a person's award whose type
    has an individual rule, `standing` (the person's standing now) is checked again as at nomination: Invalid
    `barred` (e.g. prosecuted) or Conflict `deferred` (e.g. disciplined).
    """
    decision = _require_text(decision_no, "decision_no")
    approving_level = level or award.level
    _advance(award, "approve")  # an illegal step is reported before any other check
    if approving_level != award.level:
        raise Forbidden(
            f"this award is decided at level {award.level}, not {approving_level}",
            details={"required_level": award.level},
        )
    individual = rules.award_type(award.award_type).individual
    if individual is not None and award.recipient_kind == "person":
        check_standing(standing, individual, details={"award_id": award.award_id, "at": "approval"})
    used, limit = quota_usage(award, rules, existing)
    if limit is not None and used >= limit:
        raise Conflict(
            f"the {award.year} quota of {award.award_type} is used up ({used}/{limit})",
            code="quota_exceeded",
            details={"award_type": award.award_type, "year": award.year, "used": used, "quota": limit},
        )
    through = (review(award, actor=actor, now=now),) if award.status == "proposed" else ()
    current = through[-1].award if through else award
    event = AwardApproved(award_id=award.award_id, decision_no=decision, approved_by_level=approving_level)
    step = _step(current, "approve", actor=actor, now=now, note=note, events=(event,), decision_no=decision,
                 approved_by_level=approving_level, approved_at=now)
    return Step(step.award, step.events, step.audit, through=through)


def reject(award: Award, *, reason: str, actor: str, now: datetime) -> Step:
    text = _require_text(reason, "reason")
    return _step(award, "reject", actor=actor, now=now, note=text,
                 events=(AwardRejected(award_id=award.award_id, reason=text),), reason=text, closed_at=now)


def grant(award: Award, *, certificate_id: str, actor: str, now: datetime) -> Step:
    """Record the certificate issued for an approved award (the certificate itself is built and signed apart)."""
    cert = _require_text(certificate_id, "certificate_id")
    return _step(award, "grant", actor=actor, now=now, note=None,
                 events=(AwardGranted(award_id=award.award_id, certificate_id=cert),), certificate_id=cert,
                 granted_at=now)


def annul(award: Award, *, reason: str, actor: str, now: datetime) -> Step:
    """Annul an approved or granted award (fraud, or its recognition revoked); its certificate then verifies revoked."""
    text = _require_text(reason, "reason")
    return _step(award, "annul", actor=actor, now=now, note=text,
                 events=(AwardAnnulled(award_id=award.award_id, reason=text),), reason=text, closed_at=now)


def withdraw_on_revocation(awards: Iterable[Award], revoked_basis: Iterable[str], *, reason: str,
                           now: datetime, actor: str = SYSTEM_ACTOR, revocation: str | None = None) -> list[Step]:
    """Every award resting on a revoked recognition: annulled if approved/granted, rejected if still pending.
    `revocation` (the CertificationRevoked event id) is kept on the award so a restoration can find it.

    Closed awards are left alone, so applying the same revocation twice yields no step the second time.
    """
    revoked = set(revoked_basis)
    steps: list[Step] = []
    for award in awards:
        if award.status in TERMINAL or not revoked.intersection(award.basis):
            continue
        if award.status in {"approved", "granted", "held"}:
            step = annul(award, reason=reason, actor=actor, now=now)
        else:
            step = reject(award, reason=reason, actor=actor, now=now)
        steps.append(Step(step.award.model_copy(update={"closed_by_revocation": revocation}), step.events,
                          step.audit))
    return steps


def restore(award: Award, *, reason: str, actor: str, now: datetime) -> Step:
    """Undo what a revocation did to `award`: a granted award is granted again (its certificate verifies again),
    an approved one approved again, a pending one rejected by the revocation proposed again."""
    text = _require_text(reason, "reason")
    action: Action
    if award.status == "rejected":
        action = "reopen"
    elif award.certificate_id is not None:
        action = "restore_grant"
    else:
        action = "restore_approval"
    to_status = _advance(award, action)
    event = AwardRestored(award_id=award.award_id, status=to_status, reason=text)
    return _step(award, action, actor=actor, now=now, note=text, events=(event,), reason=None, closed_at=None,
                 closed_by_revocation=None)


def restore_on_recognition(awards: Iterable[Award], revocation: str, still_revoked: Iterable[str], *, reason: str,
                           now: datetime, actor: str = SYSTEM_ACTOR) -> list[Step]:
    """The awards that the revocation `revocation` (its event id) closed, restored; an award also resting on a
    recognition still revoked (`still_revoked`: their UnitCertified event ids) stays closed. Awards people
    annulled or rejected are never touched."""
    revoked = set(still_revoked)
    return [restore(award, reason=reason, actor=actor, now=now) for award in awards
            if award.closed_by_revocation == revocation and award.status in {"annulled", "rejected"}
            and not revoked.intersection(award.basis)]
