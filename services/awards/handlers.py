"""Awards use cases: one function per command or event, one transaction each, events out via the outbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.awards import store
from services.awards.domain import (
    Award,
    Issuer,
    Nomination,
    Proposal,
    Step,
    TipFacts,
    UnitFacts,
    build_credential,
    evaluate_tip,
    evaluate_unit,
    hold,
    new_proposals,
    propose,
    restore_on_recognition,
    rules_in_force,
    sign_certificate,
    status_list,
    validate_nomination,
    verify_certificate,
    withdraw_on_revocation,
)
from services.awards.domain import annul as annul_step
from services.awards.domain import approve as approve_step
from services.awards.domain import grant as grant_step
from services.awards.domain import reject as reject_step
from services.awards.domain import review as review_step
from services.awards.domain.certificates import JWKS_PATH, VC_CONTEXT, VerificationResult, certificate_id_of
from services.awards.domain.claims import reward_refs_for_claim
from services.awards.domain.evaluation import award_id_for_key, proposal_key
from services.awards.domain.workflow import COUNTED_FOR_QUOTA, SYSTEM_ACTOR, AuditEntry
from services.awards.keys import KeyStore
from shared import audit
from shared.bus.consumer import Delivery, Reject
from shared.calendar import local_date
from shared.contracts.events import (
    AwardHeldImported,
    CertificationRestored,
    CertificationRevoked,
    RecognitionImported,
    TipReceived,
    TipTriaged,
    TipVerified,
    UnitCertified,
    UnitRegistered,
    UnitUpdated,
)
from shared.db import UnitOfWork, chunks
from shared.errors import Conflict, Invalid, NotFound

MAX_REASON = 2000
# Authorises a command on an award, given the recipient's area as the units events tell it now (None if none).
AwardCheck = Callable[[Award, str | None], None]


@dataclass(frozen=True)
class Actor:
    """Who takes a step, as the audit trail records it."""

    sub: str
    role: str


SYSTEM = Actor(SYSTEM_ACTOR, "system")


@dataclass
class CertificateIssuer:
    """What granting needs besides the database: the keyring, the issuer profile and the public base URL."""

    keys: KeyStore
    issuer: Issuer
    base_url: str

    def verify_url(self, certificate_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/certificates/{certificate_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url.rstrip('/')}{JWKS_PATH}"

    def status_list_url(self, list_no: int) -> str:
        return f"{self.base_url.rstrip('/')}/status/revocation/{list_no}"


# --- shared steps ------------------------------------------------------------------------------------------------
async def _pg_lock(uow: UnitOfWork, name: str) -> None:
    """A transaction-scoped advisory lock on PostgreSQL (SQLite writers are already serialised in-process)."""
    if not uow.db.sqlite:
        await store.advisory_lock(session=uow.session, name=name)


async def serialise_writers(uow: UnitOfWork) -> None:
    """Take the awards writers' lock first thing in a writing transaction (PostgreSQL).

    The audit hash chain needs one writer at a time; taking that lock *before* touching any award row (rather
    than at the first audit entry) also rules out lock-order deadlocks between consumers and HTTP commands.
    Awards are written rarely, so serialising their writers costs nothing noticeable.
    """
    await _pg_lock(uow, "awards-writers")


def _audit_entry(entry: AuditEntry, actor: Actor, **details: Any) -> dict[str, Any]:
    """The audit trail's record of a workflow step (the keyword arguments of `audit.append`)."""
    return {"actor": actor.sub, "role": actor.role, "action": f"award.{entry.action}", "target": entry.award_id,
            "reason": entry.note, "at": entry.at,
            "details": {"from": entry.from_status, "to": entry.to_status,
                        **{k: v for k, v in details.items() if v is not None}}}


async def _audit(uow: UnitOfWork, entry: AuditEntry, actor: Actor, **details: Any) -> None:
    await serialise_writers(uow)  # normally held already; re-entrant within the transaction
    await audit.append(uow.session, store.audit_log, **_audit_entry(entry, actor, **details))


async def _apply(uow: UnitOfWork, step: Step, *, before: Award, actor: Actor, **details: Any) -> Award:
    """Persist one workflow step: the new revision, its audit entry and its events, in the caller's transaction.

    A step that passed through others (an approval that records the review) writes their audit entries and events
    first, in order, each marked `implied_by` the command; `details` go to the command's own entry."""
    if not await store.save_award(session=uow.session, award=step.award, expected_revision=before.revision):
        raise Conflict("the award was changed meanwhile; reload and try again", code="concurrent_update",
                       details={"award_id": before.award_id})
    for taken in step.path:
        event_ids = [uow.emit(event).id for event in taken.events]
        extra = details if taken is step else {"implied_by": step.audit.action}
        await _audit(uow, taken.audit, actor, events=event_ids or None, **extra)
    if step.award.status == "annulled":
        await store.revoke_certificate(session=uow.session, award_id=step.award.award_id, now=step.audit.at,
                                       reason=step.award.reason or "annulled")
    elif step.audit.action == "restore_grant":
        await store.reinstate_certificate(session=uow.session, award_id=step.award.award_id)
    return step.award


async def _propose_all(uow: UnitOfWork, proposals: Sequence[Proposal], rules_for: Callable[[Proposal], Any], *,
                       now: datetime, actor: Actor, recipient_name: str | None = None, cause: str | None = None,
                       nomination: dict[str, Any] | None = None) -> list[Award]:
    created: list[Award] = []
    for proposal in proposals:
        step = propose(proposal, rules_for(proposal), actor=actor.sub, now=now)
        if not await store.insert_award(session=uow.session, award=step.award, recipient_name=recipient_name,
                                        nomination=nomination):
            continue  # proposed meanwhile by a concurrent transaction: the same key, nothing new to propose
        event_ids = [uow.emit(event).id for event in step.events]
        await _audit(uow, step.audit, actor, **_proposal_details(proposal, event_ids, cause))
        created.append(step.award)
    return created


def _proposal_details(proposal: Proposal, event_ids: list[str], cause: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"events": event_ids, "basis": list(proposal.basis), "cause": cause,
                               "rule_version": proposal.rule_version, "level": proposal.level}
    if proposal.exception is not None:
        details["exception"] = proposal.exception.model_dump(mode="json")
    return details


def _constant(rules: Any) -> Callable[[Proposal], Any]:
    return lambda _: rules


def _rules(province: str | None, now: datetime) -> Any:
    """The rule set in force for the province on today's date in Vietnam (not the UTC date)."""
    return rules_in_force(province or None, local_date(now))


# --- units (awards-units consumer) ------------------------------------------------------------------------------
async def evaluate_unit_awards(uow: UnitOfWork, *, unit_id: str, now: datetime, cause: str | None) -> list[Award]:
    """Propose every collective award the unit's recognitions owe and that is not stored yet (idempotent)."""
    unit = await store.get_unit(session=uow.session, unit_id=unit_id)
    if unit is None:
        return []  # area unknown yet: evaluated again when UnitRegistered arrives
    facts = await store.load_unit_facts(session=uow.session, unit_id=unit_id, area_code=unit["area_code"])
    rules = _rules(facts.province_code, now)
    prior = await store.awards_of_recipient(session=uow.session, recipient_kind="unit", recipient_ref=unit_id)
    owed = evaluate_unit(facts, rules, store.prior_awards(prior))
    fresh = new_proposals(owed, await store.known_keys(session=uow.session, keys=[p.key for p in owed]))
    return await _propose_all(uow, fresh, lambda _: rules, now=now, actor=SYSTEM, recipient_name=unit["name"],
                              cause=cause)


async def on_certification_revoked(delivery: Delivery, uow: UnitOfWork, *, now: datetime) -> list[Award]:
    """Annul (or reject, if still pending) every award resting on the revoked recognition."""
    data = delivery.data
    assert isinstance(data, CertificationRevoked)
    facts = await store.load_unit_facts(session=uow.session, unit_id=data.unit_id, area_code=None)
    folded = facts.with_revoked(delivery.event_id, data)
    record = folded.certifications[data.year]
    if folded is not facts:
        await store.save_certification(session=uow.session, unit_id=data.unit_id, record=record, now=now,
                                       revoked_reason=data.reason)
    if record.event_id is None:
        return []  # the recognition itself has not arrived: the tombstone keeps it from ever counting
    reason = f"ANTT recognition {data.year} revoked: {data.reason}"[:MAX_REASON]
    awards = await store.awards_of_recipient(session=uow.session, recipient_kind="unit", recipient_ref=data.unit_id)
    by_id = {a.award_id: a for a in awards}
    return [await _apply(uow, step, before=by_id[step.award.award_id], actor=SYSTEM, cause=delivery.event_id,
                         incident_id=data.incident_id)
            for step in withdraw_on_revocation(awards, [record.event_id], reason=reason, now=now,
                                               revocation=record.revoked_event_id)]


async def on_certification_restored(delivery: Delivery, uow: UnitOfWork, *, now: datetime) -> list[Award]:
    """A recognition revoked only by an incident since withdrawn stands again: the awards its revocation annulled
    (or rejected while pending) are restored, a granted award's certificate verifies again, and the unit's rules
    are evaluated again (an award that fell due meanwhile is proposed). Idempotent: a recognition that is not
    revoked (a redelivery) changes nothing."""
    data = delivery.data
    assert isinstance(data, CertificationRestored)
    facts = await store.load_unit_facts(session=uow.session, unit_id=data.unit_id, area_code=None)
    record = facts.certifications.get(data.year)
    if record is None or not record.revoked:
        return []
    revocation = record.revoked_event_id
    restored = record.model_copy(update={"revoked": False, "revoked_event_id": None})
    await store.save_certification(session=uow.session, unit_id=data.unit_id, record=restored, now=now,
                                   revoked_reason=None)
    still_revoked = [r.event_id for y, r in facts.certifications.items()
                     if y != data.year and r.revoked and r.event_id is not None]
    reason = f"ANTT recognition {data.year} restored: {data.reason}"[:MAX_REASON]
    awards = await store.awards_of_recipient(session=uow.session, recipient_kind="unit", recipient_ref=data.unit_id)
    by_id = {a.award_id: a for a in awards}
    out = [await _apply(uow, step, before=by_id[step.award.award_id], actor=SYSTEM, cause=delivery.event_id,
                        incident_id=data.incident_id)
           for step in (restore_on_recognition(awards, revocation, still_revoked, reason=reason, now=now)
                        if revocation is not None else [])]
    out += await evaluate_unit_awards(uow, unit_id=data.unit_id, now=now, cause=delivery.event_id)
    return out


class UnitsView:
    """The units and recognitions a batch of unit events needs, read in three statements, changed in memory in
    event order and written back at the end (or before a step that reads the database itself). Each event sees
    what the events before it did, as if they were handled one at a time."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.units: dict[str, dict[str, Any] | None] = {}
        self.certs: dict[str, dict[int, dict[str, Any]]] = {}
        self.awards: dict[str, list[Award]] = {}
        self._stored_units: set[str] = set()
        self._stored_certs: set[tuple[str, int]] = set()
        self._dirty_units: set[str] = set()
        self._dirty_certs: set[tuple[str, int]] = set()

    async def load(self, unit_ids: set[str]) -> None:
        wanted = sorted(u for u in unit_ids if u not in self.units)
        for u in wanted:
            self.units[u], self.certs[u] = None, {}
        for row in await store.units_by_id(session=self.session, unit_ids=wanted):
            self.units[row["unit_id"]] = row
            self._stored_units.add(row["unit_id"])
        for row in await store.certifications_of_units(session=self.session, unit_ids=wanted):
            self.certs[row["unit_id"]][row["year"]] = row
            self._stored_certs.add((row["unit_id"], row["year"]))
        await self.refresh_awards(set(wanted))

    async def refresh_awards(self, unit_ids: set[str]) -> None:
        """(Re)read the awards of these units (also after proposals: their rows and recognitions are unchanged)."""
        wanted = sorted(unit_ids)
        for u in wanted:
            self.awards[u] = []
        for award in await store.unit_awards(session=self.session, unit_ids=wanted):
            self.awards[award.recipient_ref].append(award)

    async def reload(self, unit_id: str) -> None:
        for table in (self.units, self.certs, self.awards):
            table.pop(unit_id, None)
        self._stored_units.discard(unit_id)
        self._stored_certs = {k for k in self._stored_certs if k[0] != unit_id}
        await self.load({unit_id})

    def put_unit(self, unit_id: str, now: datetime, values: dict[str, Any]) -> None:
        row = self.units.get(unit_id) or {"unit_id": unit_id}
        self.units[unit_id] = {**row, **values, "updated_at": now}
        self._dirty_units.add(unit_id)

    def put_certification(self, unit_id: str, year: int, values: dict[str, Any]) -> None:
        blank = store.blank_certification(unit_id, year)
        self.certs[unit_id][year] = {**(self.certs[unit_id].get(year) or blank), **values}
        self._dirty_certs.add((unit_id, year))

    def facts(self, unit_id: str, area_code: str | None) -> UnitFacts:
        return store.unit_facts(unit_id, area_code, self.certs[unit_id].values())

    async def save(self) -> None:
        await store.write_units(session=self.session, rows={u: self.units[u] for u in self._dirty_units},
                                stored=self._stored_units)
        await store.write_certifications(session=self.session,
                                         rows={k: self.certs[k[0]][k[1]] for k in self._dirty_certs},
                                         stored=self._stored_certs)
        self._dirty_units.clear()
        self._dirty_certs.clear()


async def on_unit_events(deliveries: Sequence[Delivery], uow: UnitOfWork, *, now: datetime) -> None:
    """The awards-units consumer's batch, in stream order, with a few statements for the batch: a registration or
    an update keeps the unit's row (name, kind, area), a recognition is folded in (the first event per year wins,
    so a redelivery changes nothing) and the unit's rules evaluated; the awards owed are proposed together (see
    `propose_owed`). A revocation or a restoration first writes what the batch changed so far, then runs
    `on_certification_revoked` or `on_certification_restored` as it is."""
    await serialise_writers(uow)
    view = UnitsView(uow.session)
    await view.load({str(getattr(d.data, "unit_id", "")) for d in deliveries} - {""})
    batch = _UnitsBatch(uow, view, now)
    for delivery in deliveries:
        await batch.handle(delivery)
    await batch.flush_owed()
    await view.save()


class _UnitsBatch:
    """One batch of unit events, one step per event type. Units whose recognitions owe awards are proposed
    together (see propose_owed) before the next event of one of them, before a step that reads the database
    itself and at the end: the same awards, audit entries and events, in the same order."""

    def __init__(self, uow: UnitOfWork, view: UnitsView, now: datetime):
        self.uow, self.view, self.now = uow, view, now
        self.owed_by_unit: dict[str, tuple[str | None, list[Proposal], Any, str]] = {}

    async def handle(self, delivery: Delivery) -> None:
        data = delivery.data
        if str(getattr(data, "unit_id", "")) in self.owed_by_unit:
            await self.flush_owed()
        for kind, step in self.STEPS:
            if isinstance(data, kind):
                await step(self, delivery, data)
                return

    async def flush_owed(self) -> None:
        if self.owed_by_unit:
            await propose_owed(self.uow, list(self.owed_by_unit.values()), now=self.now)
            await self.view.refresh_awards(set(self.owed_by_unit))
            self.owed_by_unit.clear()

    async def evaluate(self, unit_id: str, cause: str) -> None:
        unit = self.view.units.get(unit_id)
        if unit is None:
            return  # area unknown yet: evaluated again when UnitRegistered arrives
        facts = self.view.facts(unit_id, unit["area_code"])
        rules = _rules(facts.province_code, self.now)
        owed = evaluate_unit(facts, rules, store.prior_awards(self.view.awards[unit_id]))
        if owed:
            self.owed_by_unit[unit_id] = (unit["name"], owed, rules, cause)

    async def registered(self, delivery: Delivery, data: UnitRegistered) -> None:
        self.view.put_unit(data.unit_id, self.now, {"name": data.name, "kind": data.kind, "area_code": data.area_code})
        await self.evaluate(data.unit_id, delivery.event_id)

    async def updated(self, delivery: Delivery, data: UnitUpdated) -> None:
        changed = {k: v for k, v in data.changed.items() if k in ("name", "kind", "area_code") and isinstance(v, str)}
        if changed and self.view.units.get(data.unit_id) is not None:
            self.view.put_unit(data.unit_id, self.now, changed)

    async def certified(self, delivery: Delivery, data: UnitCertified) -> None:
        facts = self.view.facts(data.unit_id, None)
        folded = facts.with_certified(delivery.event_id, data)
        if folded is not facts:
            self.view.put_certification(data.unit_id, data.year, store.certification_values(
                folded.certifications[data.year], self.now, decision_no=data.decision_no,
                consecutive_years=data.consecutive_years))
        await self.evaluate(data.unit_id, delivery.event_id)

    async def imported(self, delivery: Delivery, data: RecognitionImported) -> None:
        facts = self.view.facts(data.unit_id, None)
        folded = facts.with_imported(delivery.event_id, data)
        if folded is not facts:
            self.view.put_certification(data.unit_id, data.year, store.certification_values(
                folded.certifications[data.year], self.now, decision_no=data.decision_no))
            await self.evaluate(data.unit_id, delivery.event_id)

    async def award_held(self, delivery: Delivery, data: AwardHeldImported) -> None:
        await self.flush_owed()
        await self.view.save()
        if await on_award_held_imported(delivery, self.uow, now=self.now) and data.recipient_kind == "unit":
            await self.view.refresh_awards({data.recipient_ref})
            # An award held may be the earlier award a rule needs: the unit may now be owed the next one.
            await self.evaluate(data.recipient_ref, delivery.event_id)

    async def revoked(self, delivery: Delivery, data: CertificationRevoked) -> None:
        await self.flush_owed()
        await self.view.save()
        await on_certification_revoked(delivery, self.uow, now=self.now)
        await self.view.reload(data.unit_id)

    async def restored(self, delivery: Delivery, data: CertificationRestored) -> None:
        await self.flush_owed()
        await self.view.save()
        await on_certification_restored(delivery, self.uow, now=self.now)
        await self.view.reload(data.unit_id)

    STEPS: ClassVar[tuple[tuple[type, Callable[[_UnitsBatch, Delivery, Any], Awaitable[None]]], ...]] = (
        (UnitRegistered, registered), (UnitUpdated, updated), (UnitCertified, certified),
        (RecognitionImported, imported), (AwardHeldImported, award_held), (CertificationRevoked, revoked),
        (CertificationRestored, restored))


async def on_award_held_imported(delivery: Delivery, uow: UnitOfWork, *, now: datetime) -> Award | None:
    """Record an award held before antq (status `held`, its decision number, audited as `award.import`) under
    the key a proposal of the same type, recipient and year would have, so the rules never propose it again.
    An award antq already has under that key is left as it is; an award type the rules do not know is refused
    (DLQ)."""
    data = delivery.data
    assert isinstance(data, AwardHeldImported)
    area = data.area_code
    if area is None and data.unit_id:
        unit = await store.get_unit(session=uow.session, unit_id=data.unit_id)
        area = str(unit["area_code"]) if unit else None
    province = store.province_of(area)
    rules = _rules(province, now)
    if data.award_type not in rules.award_types:
        raise Reject(f"unknown award type {data.award_type!r} (imported award held)")
    key = proposal_key(data.award_type, data.recipient_kind, data.recipient_ref, data.year)
    if await store.known_keys(session=uow.session, keys=[key]):
        return None  # antq has this award already (proposed by the rules, or imported before)
    award_type = rules.award_types[data.award_type]
    step = hold(key=key, award_id=award_id_for_key(key), award_type=data.award_type,
                recipient_kind=data.recipient_kind, recipient_ref=data.recipient_ref, year=data.year,
                decision_no=data.decision_no, level=award_type.approving_levels[0], area_code=area,
                province_code=province, rules=rules, basis=(delivery.event_id,), actor=SYSTEM.sub, now=now)
    if not await store.insert_award(session=uow.session, award=step.award, recipient_name=data.recipient_name,
                                    nomination={"imported": True, "decided_on": data.decided_on,
                                                "unit_id": data.unit_id}):
        return None
    await _audit(uow, step.audit, SYSTEM, cause=delivery.event_id, decision_no=data.decision_no,
                 decided_on=data.decided_on.isoformat() if data.decided_on else None, imported=True)
    return step.award


async def propose_owed(uow: UnitOfWork, owed: Sequence[tuple[str | None, list[Proposal], Any, str]], *,
                       now: datetime) -> list[Award]:
    """`_propose_all` for several recipients at once (recipient's name, proposals owed, rules, cause): one
    statement to find the proposals already stored, one to insert the new awards, one to extend the audit
    chain."""
    session = uow.session
    known: set[str] = set()
    keys = [p.key for _, proposals, _, _ in owed for p in proposals]
    for chunk in chunks(keys):
        known |= await store.known_keys(session=session, keys=chunk)
    steps: list[tuple[str | None, Proposal, Step, str]] = []
    for name, proposals, rules, cause in owed:
        for proposal in new_proposals(proposals, known):
            steps.append((name, proposal, propose(proposal, rules, actor=SYSTEM.sub, now=now), cause))
            known.add(proposal.key)
    if not steps:
        return []
    if not await store.insert_awards(session=session, awards_named=[(step.award, name) for name, _, step, _ in steps]):
        # Proposed meanwhile by a concurrent transaction: one at a time, skipping those (as _propose_all does).
        created: list[Award] = []
        for name, proposals, rules, cause in owed:
            fresh = new_proposals(proposals, await store.known_keys(session=session, keys=[p.key for p in proposals]))
            created += await _propose_all(uow, fresh, _constant(rules), now=now, actor=SYSTEM,
                                          recipient_name=name, cause=cause)
        return created
    entries = []
    for _, proposal, step, cause in steps:
        event_ids = [uow.emit(event).id for event in step.events]
        entries.append(_audit_entry(step.audit, SYSTEM, **_proposal_details(proposal, event_ids, cause)))
    await serialise_writers(uow)
    await audit.append_many(session, store.audit_log, entries)
    return [step.award for _, _, step, _ in steps]


# --- tips (awards-tips consumer) --------------------------------------------------------------------------------
async def _tip_area(uow: UnitOfWork, tip: dict[str, Any]) -> str | None:
    area = tip.get("area_code") or tip.get("assigned_area")
    if area is None and tip.get("unit_id"):
        unit = await store.get_unit(session=uow.session, unit_id=tip["unit_id"])
        area = unit["area_code"] if unit else None
    return area  # type: ignore[no-any-return]


async def _backfill_reward_area(uow: UnitOfWork, tip: dict[str, Any], *, now: datetime) -> None:
    """A reward proposed before its tip's area was known learns it (while pending), so it counts in quotas."""
    area = await _tip_area(uow, tip)
    if area is None or not tip.get("reward_ref"):
        return
    for award in await store.awards_of_recipient(session=uow.session, recipient_kind="reporter",
                                                 recipient_ref=tip["reward_ref"]):
        if award.area_code is None and award.status in ("proposed", "reviewed"):
            updated = award.model_copy(update={"area_code": area, "province_code": store.province_of(area),
                                               "updated_at": now, "revision": award.revision + 1})
            await store.save_award(session=uow.session, award=updated, expected_revision=award.revision)


class TipsView:
    """The tips a batch of tip events needs, read in one statement, changed in memory in event order and written
    back at the end. Nothing else in the batch reads the tips table (proposals and backfills touch awards only),
    so each event sees what the events before it did, as if they were handled one at a time."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.tips: dict[str, dict[str, Any] | None] = {}
        self._stored: set[str] = set()
        self._dirty: set[str] = set()

    async def load(self, tip_ids: set[str]) -> None:
        wanted = sorted(t for t in tip_ids if t not in self.tips)
        for t in wanted:
            self.tips[t] = None
        for row in await store.tips_by_id(session=self.session, tip_ids=wanted):
            self.tips[row["tip_id"]] = row
            self._stored.add(row["tip_id"])

    def put(self, tip_id: str, now: datetime, **values: Any) -> dict[str, Any]:
        """Insert or update a tip: a new one starts not received, its other columns empty."""
        row = self.tips.get(tip_id) or store.blank_tip(tip_id)
        self.tips[tip_id] = row = {**row, **values, "updated_at": now}
        self._dirty.add(tip_id)
        return row

    async def save(self) -> None:
        await store.write_tips(session=self.session, rows={t: self.tips[t] for t in self._dirty}, stored=self._stored)
        self._dirty.clear()


async def on_tip_events(deliveries: Sequence[Delivery], uow: UnitOfWork, *, now: datetime) -> list[Award]:
    """The awards-tips consumer's batch, in stream order: a received or triaged tip keeps its area (and gives it
    to a reward proposed before the area was known); the first verification of a valuable tip carrying a
    reward_ref owes its reporter a reward proposal (once). The tips are read in one statement and written back
    in two; the rewards owed are proposed together (`propose_owed`), before any step that reads the awards (a
    backfill) and at the end: the same awards, audit entries and events, in the same order. Returns the awards
    proposed."""
    await serialise_writers(uow)
    view = TipsView(uow.session)
    await view.load({str(getattr(d.data, "tip_id", "")) for d in deliveries} - {""})
    created: list[Award] = []
    owed: list[tuple[str | None, list[Proposal], Any, str]] = []

    async def backfill(tip: dict[str, Any]) -> None:
        if owed and tip.get("reward_ref"):
            created.extend(await propose_owed(uow, owed, now=now))
            owed.clear()
        await _backfill_reward_area(uow, tip, now=now)

    for delivery in deliveries:
        data = delivery.data
        if isinstance(data, TipReceived):
            await backfill(view.put(data.tip_id, now, area_code=data.area_code, unit_id=data.unit_id, received=True))
        elif isinstance(data, TipTriaged):
            if data.assigned_area is not None:
                await backfill(view.put(data.tip_id, now, assigned_area=data.assigned_area))
        elif isinstance(data, TipVerified):
            owing = await _tip_verified(uow, view, delivery, data, now=now)
            if owing is not None:
                owed.append(owing)
    if owed:
        created.extend(await propose_owed(uow, owed, now=now))
    await view.save()
    return created


async def _tip_verified(uow: UnitOfWork, view: TipsView, delivery: Delivery, data: TipVerified, *,
                        now: datetime) -> tuple[None, list[Proposal], Any, str] | None:
    """Folds the verification into the tip; what it owes (no recipient name, proposals, rules, cause), if any."""
    tip = view.tips.get(data.tip_id)
    if tip is None or tip.get("verified_event_id") is None:
        # The first verification is the one rewarded; the event's own time dates it (stable under replay).
        tip = view.put(data.tip_id, now, verified_event_id=delivery.event_id, valuable=data.valuable,
                       outcome=data.outcome, reward_ref=data.reward_ref,
                       verified_on=local_date(delivery.envelope.time).isoformat(),
                       **({"unit_id": data.unit_id} if data.unit_id and not (tip or {}).get("unit_id") else {}))
    area = await _tip_area(uow, tip)
    facts = TipFacts(tip_id=tip["tip_id"], event_id=tip["verified_event_id"], valuable=bool(tip["valuable"]),
                     outcome=tip["outcome"], reward_ref=tip["reward_ref"], unit_id=tip["unit_id"],
                     verified_on=date.fromisoformat(tip["verified_on"]), area_code=area,
                     province_code=store.province_of(area))
    rules = _rules(facts.province_code, now)
    owed = evaluate_tip(facts, rules)
    return (None, owed, rules, delivery.event_id) if owed else None


# --- commands (HTTP) ----------------------------------------------------------------------------------------------
async def _load(uow: UnitOfWork, award_id: str, check: AwardCheck) -> Award:
    return (await _load_row(uow, award_id, check))[0]


async def _load_row(uow: UnitOfWork, award_id: str, check: AwardCheck) -> tuple[Award, dict[str, Any]]:
    """The award, checked, with its stored row (for what the domain object does not carry)."""
    await serialise_writers(uow)
    row = await store.get_award_row(session=uow.session, award_id=award_id)
    if row is None:
        raise NotFound("no such award", details={"award_id": award_id})
    award = store.award_from_row(row)
    check(award, await _recipient_area(uow, award))
    return award, row


async def _recipient_area(uow: UnitOfWork, award: Award) -> str | None:
    """A unit recipient's area now, from the units events (its award keeps the area it was proposed in; the unit
    may have moved since). Persons and reporters have no area besides their award's."""
    if award.recipient_kind != "unit":
        return None
    unit = await store.get_unit(session=uow.session, unit_id=award.recipient_ref)
    return str(unit["area_code"]) if unit else None


async def nominate(nomination: Nomination, uow: UnitOfWork, *, actor: Actor, now: datetime,
                   recipient_name: str | None) -> Award:
    """A manual nomination: validated against the rules in force, then proposed like any other award."""
    await serialise_writers(uow)
    rules = _rules(nomination.province_code, now)
    prior = await store.awards_of_recipient(session=uow.session, recipient_kind=nomination.recipient_kind,
                                            recipient_ref=nomination.recipient_ref)
    unit = None
    if nomination.recipient_kind == "unit":
        unit = await store.load_unit_facts(session=uow.session, unit_id=nomination.recipient_ref,
                                           area_code=nomination.area_code)
    proposal = validate_nomination(nomination, rules, store.prior_awards(prior), on=local_date(now), unit=unit)
    existing = await store.get_award_row(session=uow.session, award_id=proposal.award_id)
    if existing is not None:
        raise Conflict("this award is already proposed for this recipient and year", code="already_proposed",
                       details={"award_id": proposal.award_id, "status": existing["status"]})
    facts = nomination.model_dump(mode="json", include={
        "proposer", "category", "gender", "service_started_on", "prior_commendations", "serious_incident_in_unit",
        "standing"})
    if proposal.exception is not None:
        # Kept with the nomination, so the approver sees what the unit misses and why it is proposed anyway.
        facts["exception"] = proposal.exception.model_dump(mode="json")
    created = await _propose_all(uow, [proposal], lambda _: rules, now=now, actor=actor,
                                 recipient_name=recipient_name, nomination=facts)
    if not created:
        raise Conflict("this award is already proposed for this recipient and year", code="already_proposed",
                       details={"award_id": proposal.award_id})
    return created[0]


async def review(award_id: str, uow: UnitOfWork, *, actor: Actor, now: datetime, note: str | None,
                 check: AwardCheck) -> Award:
    award = await _load(uow, award_id, check)
    return await _apply(uow, review_step(award, actor=actor.sub, now=now, note=note), before=award, actor=actor)


def _nominated_standing(row: dict[str, Any]) -> list[str]:
    """The standing recorded with a manual nomination (none for a proposal made by the rules)."""
    facts = json.loads(row["nomination"]) if row.get("nomination") else {}
    standing = facts.get("standing") if isinstance(facts, dict) else None
    return [str(s) for s in standing] if isinstance(standing, list) else []


async def quota_of(award: Award, session: AsyncSession, *, now: datetime) -> dict[str, Any]:
    """The quota an approval of this award draws on: approved or granted awards of its type and year already
    counted in its scope (`used`), the ceiling (`limit`, None when unlimited) and what is `left`."""
    quota = _rules(award.province_code, now).award_type(award.award_type).quota
    code = award.province_code if quota.scope == "province" else award.area_code
    used = await store.quota_used(session=session, award_type=award.award_type, year=award.year, scope=quota.scope,
                                  code=code, statuses=COUNTED_FOR_QUOTA, exclude=award.award_id)
    limit = quota.limit_for(code or "")
    return {"scope": quota.scope, "used": used, "limit": limit,
            "left": None if limit is None else max(limit - used, 0)}


async def approve(award_id: str, uow: UnitOfWork, *, actor: Actor, now: datetime, decision_no: str,
                  level: str | None, note: str | None, check: AwardCheck,
                  standing: Sequence[str] | None = None, decided_on: date | None = None) -> Award:
    """Approve with a decision number; the quota of the type, year and area is checked under a lock.

    A proposal not reviewed yet is reviewed by the approver in the same step. A person's award is refused when
    the person is now barred or deferred: `standing` is the standing the approver states for today; without it,
    the standing recorded at nomination is checked again against the rules in force today.
    """
    award, row = await _load_row(uow, award_id, check)
    # Two approvals racing for the last quota place must not both pass: serialise approvals of one type/year.
    await _pg_lock(uow, f"awards-quota:{award.award_type}:{award.year}")
    rules = _rules(award.province_code, now)
    current_standing = _nominated_standing(row) if standing is None else list(standing)
    # The quota's count needs the year's awards of the type only when the type has a ceiling in this scope.
    try:
        quota = rules.award_type(award.award_type).quota
        limited = quota.limit_for((award.province_code if quota.scope == "province" else award.area_code) or "")
    except NotFound:  # a type no longer in the rules: the workflow step reports it, in its own order
        limited = 0
    existing = await store.awards_of_type_year(session=uow.session, award_type=award.award_type,
                                               year=award.year) if limited is not None else []
    step = approve_step(award, rules, decision_no=decision_no, actor=actor.sub, now=now, existing=existing,
                        level=level, note=note, standing=current_standing)
    approved = await _apply(uow, step, before=award, actor=actor, decision_no=step.award.decision_no,
                            level=step.award.approved_by_level, standing=standing,
                            decided_on=decided_on.isoformat() if decided_on else None)
    if approved.recipient_kind == "unit":
        # Rules may need a prior award (a Bằng khen after a Giấy khen): this approval may owe a new proposal.
        await evaluate_unit_awards(uow, unit_id=approved.recipient_ref, now=now, cause=f"award:{award_id}")
    return approved


async def reject(award_id: str, uow: UnitOfWork, *, actor: Actor, now: datetime, reason: str,
                 check: AwardCheck) -> Award:
    award = await _load(uow, award_id, check)
    return await _apply(uow, reject_step(award, reason=reason, actor=actor.sub, now=now), before=award, actor=actor)


async def annul(award_id: str, uow: UnitOfWork, *, actor: Actor, now: datetime, reason: str,
                check: AwardCheck) -> Award:
    award = await _load(uow, award_id, check)
    return await _apply(uow, annul_step(award, reason=reason, actor=actor.sub, now=now), before=award, actor=actor)


async def grant(award_id: str, uow: UnitOfWork, *, actor: Actor, now: datetime, issuer: CertificateIssuer,
                check: AwardCheck) -> Award:
    """Issue the certificate of an approved award: build the credential, sign it, store it, then record the step."""
    award, row = await _load_row(uow, award_id, check)
    if award.status != "approved":
        grant_step(award, certificate_id="-", actor=actor.sub, now=now)  # raises the illegal transition
    certificate_id = str(uuid.uuid4())
    rules = _rules(award.province_code, now)
    await serialise_writers(uow)  # re-entrant; makes the next status index ours
    status_index = await store.next_status_index(session=uow.session)
    list_no, _ = status_list.position(status_index)
    credential = build_credential(award, rules, certificate_id=certificate_id, issuer=issuer.issuer, issued_at=now,
                                  recipient_name=row["recipient_name"] if award.recipient_kind != "reporter"
                                  else None,
                                  status=status_list.entry(issuer.status_list_url(list_no), status_index))
    keyring = issuer.keys.keyring()
    token = sign_certificate(credential, keyring, jwks_url=issuer.jwks_url)
    await store.insert_certificate(session=uow.session, certificate_id=certificate_id, award_id=award_id, jws=token,
                                   credential=credential, kid=keyring.current_kid, issued_at=now,
                                   status_index=status_index)
    step = grant_step(award, certificate_id=certificate_id, actor=actor.sub, now=now)
    granted = await _apply(uow, step, before=award, actor=actor, certificate_id=certificate_id,
                           kid=keyring.current_kid)
    if granted.recipient_kind == "unit":
        await evaluate_unit_awards(uow, unit_id=granted.recipient_ref, now=now, cause=f"award:{award_id}")
    return granted


# --- overdue reviews (background) ------------------------------------------------------------------------------
async def mark_overdue_reviews(uow: UnitOfWork, *, now: datetime) -> int:
    """Flag pending awards past their level's review deadline once, with an audit entry; returns how many."""
    rows = await store.overdue_unflagged(session=uow.session, now=now)
    count = 0
    for row in rows:
        await serialise_writers(uow)
        await store.flag_overdue(session=uow.session, award_id=row["award_id"], now=now)
        await audit.append(uow.session, store.audit_log, actor=SYSTEM.sub, role=SYSTEM.role,
                           action="award.review_overdue", target=row["award_id"],
                           reason=f"review deadline of level {row['level']} passed",
                           details={"status": row["status"], "level": row["level"],
                                    "review_due_at": row["review_due_at"].isoformat()}, at=now)
        count += 1
    return count


# --- certificates and claims (public) -------------------------------------------------------------------------
async def verify(certificate: str | dict[str, Any], session: AsyncSession, *, keys: KeyStore,
                 now: datetime) -> VerificationResult:
    """valid / revoked / invalid: the signature against the published keys, then the award's current status."""
    jwks = keys.keyring().jwks()
    first = verify_certificate(certificate, jwks, set(), now=now)
    if first.status == "invalid" and first.reason in ("malformed", "unsupported_algorithm", "unknown_key",
                                                      "bad_signature", "content_mismatch"):
        return first
    certificate_id = first.certificate_id or (certificate_id_of(first.credential) if first.credential else None)
    if certificate_id is None:
        return first
    stored = await store.get_certificate(session=session, certificate_id=certificate_id)
    if stored is None or stored["revoked_at"] is None:
        return first
    return verify_certificate(certificate, jwks, {certificate_id}, now=now)


async def claim(receipt: str, session: AsyncSession) -> dict[str, Any]:
    """The reward status of the valuable tip whose reward_ref the receipt hashes to; reveals nothing else."""
    try:
        refs = reward_refs_for_claim(receipt)
    except Invalid:
        refs = []
    for ref in refs:
        rows = await store.rows_of_recipient(session=session, recipient_kind="reporter", recipient_ref=ref)
        if rows:
            row = rows[-1]
            return {"reward_status": row["status"], "award_type": row["award_type"], "year": row["year"],
                    "decision_no": row["decision_no"], "certificate_id": row["certificate_id"],
                    "updated_at": row["updated_at"]}
        tips = await store.tips_by_reward_ref(session=session, reward_ref=ref)
        if tips:
            # A valuable tip whose outcome the rules do not reward (yet): known, but no reward proposed.
            return {"reward_status": "not_eligible", "award_type": None, "year": None, "decision_no": None,
                    "certificate_id": None, "updated_at": tips[0]["updated_at"]}
    raise NotFound("no reward is known for this receipt", code="not_found")


async def revocation_list(list_no: int, session: AsyncSession, *, issuer: CertificateIssuer,
                          now: datetime) -> str:
    """The signed `BitstringStatusListCredential` (compact JWS) of revocation list `list_no`, as it stands now."""
    if list_no < 0:
        raise NotFound("no such status list", details={"list": list_no})
    first = list_no * status_list.LIST_SIZE
    revoked = await store.revoked_status_indexes(session=session, first=first, last=first + status_list.LIST_SIZE)
    url = issuer.status_list_url(list_no)
    profile = {"id": issuer.issuer.id, "type": ["Profile"], "name": issuer.issuer.name}
    credential = status_list.list_credential(url, profile, [i - first for i in revoked], valid_from=now,
                                             vc_context=VC_CONTEXT)
    return sign_certificate(credential, issuer.keys.keyring(), jwks_url=issuer.jwks_url)
