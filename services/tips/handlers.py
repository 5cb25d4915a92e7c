"""Tips use cases: one function per command or event, one transaction each, events out via the outbox.

The pure rules live in `services.tips.domain`; these functions load, let the domain decide, save, append the
events and write the audit trail. Nothing here logs or publishes a reporter's identity or free text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from services.tips import store
from services.tips.context import TipsContext
from services.tips.domain import (
    DISMISSAL_OUTCOMES,
    AttachmentMeta,
    AttachmentRules,
    DeadlineMarker,
    IdentityDecryptError,
    InboundKeyring,
    InvalidAgencyKey,
    Receipt,
    ReceiptSealer,
    Tip,
    TipFingerprint,
    UndecryptableIdentity,
    begin_verification,
    candidate_window,
    close,
    current_deadline,
    deadline_instances,
    escalations,
    extend,
    find_duplicates,
    new_receipt,
    next_wakeup,
    owed_deadline_events,
    parse_receipt,
    post_message,
    receive_tip,
    reward_ref,
    triage,
    validate_attachments,
    verify,
)
from services.tips.domain.attachments import HEAD_BYTES
from services.tips.domain.lifecycle import SuspensionReason
from services.tips.policy import authorize_on
from shared import audit
from shared.areas import AREA_CODE_MAX_LENGTH, AREA_CODE_PATTERN, check_known_area, is_area_code
from shared.auth import Principal
from shared.bus.consumer import Delivery, Reject
from shared.contracts.events import (
    OnBehalfOf,
    Priority,
    ReporterIdentity,
    TipAccepted,
    TipChannel,
    TipOutcome,
    TipSubmitted,
    UnitRegistered,
    UnitUpdated,
)
from shared.contracts.instants import Instant
from shared.contracts.subjects import outbound_subject
from shared.db import UnitOfWork
from shared.errors import Conflict, Invalid, NotFound, field_names
from shared.places import is_known_area

log = logging.getLogger(__name__)

AREA_PATTERN = AREA_CODE_PATTERN  # shared/areas.py: the same codes in every service


# --- commands ----------------------------------------------------------------------------------------------------
def _submit_tip_rules(schema: dict[str, Any]) -> None:
    """`SubmitTip._consistent` in JSON Schema, so that the OpenAPI document allows only what the model accepts."""
    schema["allOf"] = [
        # anonymous (the default) carries no reporter; not anonymous needs one
        {"if": {"properties": {"anonymous": {"const": False}}, "required": ["anonymous"]},
         "then": {"properties": {"reporter": {"not": {"type": "null"}}}, "required": ["reporter"]},
         "else": {"properties": {"reporter": {"type": "null"}}}},
        # a location, or location_unknown, not both
        {"not": {"properties": {"location": {"type": "string", "minLength": 1},
                                "location_unknown": {"const": True}},
                 "required": ["location", "location_unknown"]}},
    ]


class SubmitTip(BaseModel):
    """A tip as submitted over HTTP, by the web form, by `antq tips submit` or by another agency."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_submit_tip_rules)

    category: str = Field(min_length=1, max_length=64, description="A code from `GET /categories`")
    description: str = Field(min_length=1, max_length=20_000, description="What happened, and its consequences")
    location: str | None = Field(default=None, max_length=1000, description="Where it happened")
    location_unknown: StrictBool | None = Field(default=None, description="\"I don't remember the location\"")
    area_code: str | None = Field(default=None, max_length=AREA_CODE_MAX_LENGTH, pattern=AREA_PATTERN,
                                  description="Province \"PP\" or commune \"PP.CCCCC\"")
    unit_id: str | None = Field(default=None, max_length=200, description="The agency, enterprise or school")
    occurred_at: Instant | None = Field(default=None, description="When it happened (with a time zone, 2000-2199)")
    anonymous: StrictBool = True  # strict: `0` or "yes" is not the boolean the document asks for
    reporter: ReporterIdentity | None = None
    on_behalf_of: OnBehalfOf | None = None
    confidentiality_requested: StrictBool = Field(default=False, description="Keep my identity confidential")
    protection_requested: StrictBool = Field(default=False, description="I ask for protection")

    @model_validator(mode="after")
    def _consistent(self) -> SubmitTip:
        if self.location and self.location_unknown:
            raise ValueError("give a location or location_unknown, not both")
        if self.anonymous and self.reporter is not None:
            raise ValueError("an anonymous tip carries no reporter; set anonymous to false to give your identity")
        if not self.anonymous and self.reporter is None:
            raise ValueError("a tip that is not anonymous needs the reporter's name")
        return self


@dataclass(frozen=True)
class IncomingFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Accepted:
    tip_id: str
    receipt: str
    received_at: datetime
    priority: str
    channel: str

    def __repr__(self) -> str:  # never print the receipt by accident
        return f"Accepted(tip_id={self.tip_id!r}, receipt=<hidden>)"


@dataclass
class PreparedTip:
    """Everything that is slow or touches the disk, done before the transaction opens."""

    tip_id: str
    cmd: SubmitTip
    channel: TipChannel
    category: str
    receipt: Receipt
    receipt_hash: str
    identity_enc: str | None
    anonymous: bool
    confidentiality_requested: bool
    files: list[tuple[IncomingFile, str]]  # (file, storage key)
    sha256: list[str]


def _identity(cmd: SubmitTip) -> dict[str, Any] | None:
    if cmd.reporter is None and cmd.on_behalf_of is None:
        return None
    return {"reporter": cmd.reporter.model_dump() if cmd.reporter else None,
            "on_behalf_of": cmd.on_behalf_of.model_dump() if cmd.on_behalf_of else None}


def check_files(files: Sequence[IncomingFile], rules: AttachmentRules) -> None:
    validate_attachments([AttachmentMeta(filename=f.filename, content_type=f.content_type, size=len(f.data),
                                         head=f.data[:HEAD_BYTES]) for f in files], rules)


async def prepare_tip(cmd: SubmitTip, *, ctx: TipsContext, channel: TipChannel,
                      files: Sequence[IncomingFile] = (), coerce_category: bool = False) -> PreparedTip:
    """Validate against the rules in force, hash the receipt, encrypt the identity, store the files."""
    category = (ctx.categories.coerce(cmd.category) if coerce_category else ctx.categories.get(cmd.category)).code
    check_known_area(cmd.area_code)
    check_files(files, ctx.attachment_rules)
    tip_id = str(uuid.uuid4())
    receipt = new_receipt()
    receipt_hash = ctx.receipts.hash(receipt)  # one HMAC: microseconds, no thread needed
    identity = _identity(cmd)
    identity_enc = ctx.cipher.encrypt(identity, context=tip_id) if identity else None
    stored: list[tuple[IncomingFile, str]] = []
    hashes: list[str] = []
    for f in files:
        blob = await ctx.storage.put(f.data)
        stored.append((f, blob.key))
        hashes.append(blob.sha256)
    return PreparedTip(tip_id=tip_id, cmd=cmd, channel=channel, category=category, receipt=receipt,
                       receipt_hash=receipt_hash, identity_enc=identity_enc,
                       anonymous=cmd.anonymous and cmd.reporter is None,
                       confidentiality_requested=cmd.confidentiality_requested, files=stored, sha256=hashes)


async def record_tips(batch: Sequence[PreparedTip], uow: UnitOfWork, *, ctx: TipsContext,
                      now: datetime) -> list[Accepted]:
    """Store tips, their attachments and likely-duplicate links, and append their TipReceived, in the caller's
    one transaction, with a few statements for the whole batch. The result is what storing them one after the
    other would give: each tip is compared for duplicates with the tips before it, those of the batch included.
    """
    session = uow.session
    receipts = await _unique_receipts(batch, uow, ctx)
    rows: list[dict[str, Any]] = []
    received: list[tuple[Tip, list[Any]]] = []
    accepted: list[Accepted] = []
    for p, (receipt, receipt_hash) in zip(batch, receipts, strict=True):
        cmd = p.cmd
        tip, events = receive_tip(
            tip_id=p.tip_id, category=p.category, channel=p.channel, received_at=now, anonymous=p.anonymous,
            categories=ctx.categories, area_code=cmd.area_code, unit_id=cmd.unit_id,
            reward_ref=reward_ref(receipt))
        rows.append(store.tip_values(tip) | {
            "tip_id": tip.tip_id, "description": cmd.description, "location": cmd.location,
            "location_unknown": bool(cmd.location_unknown) if cmd.location_unknown is not None
            else cmd.location is None,
            "occurred_at": cmd.occurred_at, "confidentiality_requested": p.confidentiality_requested,
            "protection_requested": cmd.protection_requested, "identity_enc": p.identity_enc,
            "receipt_lookup": receipt.lookup_id, "receipt_hash": receipt_hash, "updated_at": now,
        } | await _deadline_columns(tip, uow, ctx, set()))  # a new tip has no deadline markers yet
        received.append((tip, events))
        accepted.append(Accepted(tip_id=tip.tip_id, receipt=str(receipt), received_at=now, priority=tip.priority,
                                 channel=p.channel))
    await store.insert_tips(session=session, rows=rows)
    files = [
        {"attachment_id": str(uuid.uuid4()), "tip_id": p.tip_id, "filename": f.filename[:255],
         "content_type": f.content_type.split(";", 1)[0].strip().lower()[:200], "size": len(f.data),
         "sha256": digest, "storage_key": key, "created_at": now}
        for p in batch for (f, key), digest in zip(p.files, p.sha256, strict=True)]
    if files:
        await store.insert_attachments(session=session, rows=files)
    await _link_duplicates(batch, [tip for tip, _ in received], uow, ctx, now)
    for _, events in received:
        for event in events:
            uow.emit(event)
    return accepted


async def _unique_receipts(batch: Sequence[PreparedTip], uow: UnitOfWork,
                           ctx: TipsContext) -> list[tuple[Receipt, str]]:
    """Each tip's receipt and hash; a lookup id already taken (a 40-bit clash: rare) is drawn again."""
    taken = await store.lookups_taken(session=uow.session, lookups=[p.receipt.lookup_id for p in batch])
    out: list[tuple[Receipt, str]] = []
    for p in batch:
        receipt, receipt_hash = p.receipt, p.receipt_hash
        for _ in range(5):
            if receipt.lookup_id not in taken:
                break
            # Draw again rather than fail the reporter.
            receipt = new_receipt()
            receipt_hash = ctx.receipts.hash(receipt)
            taken |= await store.lookups_taken(session=uow.session, lookups=[receipt.lookup_id])
        else:  # pragma: no cover - 5 clashes in a row means the random source is broken
            raise Conflict("could not allocate a receipt; try again", code="receipt_clash")
        taken.add(receipt.lookup_id)
        out.append((receipt, receipt_hash))
    return out


async def _link_duplicates(batch: Sequence[PreparedTip], tips: Sequence[Tip], uow: UnitOfWork, ctx: TipsContext,
                           now: datetime) -> None:
    """Suggest links from each new tip to likely duplicates received before it (see domain.duplicates)."""
    limit = store.DUPLICATE_CANDIDATES
    windows = {tip.tip_id: candidate_window(tip.received_at, ctx.triage_rules) for tip in tips
               if tip.area_code or tip.unit_id}
    # One statement for the whole batch: the latest candidates of each (category, place), enough of them that
    # every tip still has its own `limit` once the tips of the batch at the same place are left out.
    in_batch: Counter[tuple[str, str, str | None]] = Counter(
        (tip.category, "area", tip.area_code) for tip in tips if tip.area_code)
    in_batch.update((tip.category, "unit", tip.unit_id) for tip in tips if tip.unit_id)
    wanted = [(tip.category, tip.area_code, tip.unit_id, *windows[tip.tip_id],
               limit + in_batch[(tip.category, "area", tip.area_code)] + in_batch[(tip.category, "unit", tip.unit_id)])
              for tip in tips if tip.tip_id in windows]
    if not wanted:
        return
    rows = await store.duplicate_candidates(session=uow.session, wanted=wanted)
    position = {tip.tip_id: n for n, tip in enumerate(tips)}
    # The rows of each (category, area) and (category, unit), by their index in `rows` (newest first), so that a
    # tip looks at its own place's candidates only, not at every row of the batch's query.
    by_area: dict[tuple[str, str], list[int]] = {}
    by_unit: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        if r["area_code"]:
            by_area.setdefault((r["category"], r["area_code"]), []).append(i)
        if r["unit_id"]:
            by_unit.setdefault((r["category"], r["unit_id"]), []).append(i)
    links: list[dict[str, Any]] = []
    prints: dict[int, TipFingerprint] = {}
    for n, (p, tip) in enumerate(zip(batch, tips, strict=True)):
        if tip.tip_id not in windows:
            continue
        start, end = windows[tip.tip_id]
        at_area = by_area.get((tip.category, tip.area_code), []) if tip.area_code else []
        at_unit = by_unit.get((tip.category, tip.unit_id), []) if tip.unit_id else []
        others: list[TipFingerprint] = []
        for i in (sorted(set(at_area) | set(at_unit)) if at_area and at_unit else at_area or at_unit):
            if len(others) >= limit:
                break
            r = rows[i]
            # Stored before, or earlier in this batch (the tip itself and those after it are left out).
            if position.get(r["tip_id"], -1) < n and start <= r["received_at"] <= end:
                if i not in prints:  # one fingerprint per row: its text's features are computed once
                    prints[i] = TipFingerprint(
                        tip_id=r["tip_id"], category=r["category"], received_at=r["received_at"],
                        description=r["description"], area_code=r["area_code"], unit_id=r["unit_id"])
                others.append(prints[i])
        if not others:
            continue
        new = TipFingerprint(tip_id=tip.tip_id, category=tip.category, received_at=tip.received_at,
                             description=p.cmd.description, area_code=tip.area_code, unit_id=tip.unit_id)
        links += [{"tip_id": tip.tip_id, "other_id": c.tip_id, "score": c.score,
                   "reasons": json.dumps(list(c.reasons)), "status": "suggested", "created_at": now}
                  for c in find_duplicates(new, others, ctx.triage_rules)]
    if links:
        await store.insert_duplicate_links(session=uow.session, rows=links)


async def submit_tip(cmd: SubmitTip, *, ctx: TipsContext, channel: TipChannel,
                     files: Sequence[IncomingFile] = ()) -> Accepted:
    """The public intake (HTTP API, web form, CLI): prepare outside, record inside one transaction."""
    prepared = await prepare_tip(cmd, ctx=ctx, channel=channel, files=files)

    async def record(batch: list[PreparedTip], uow: UnitOfWork) -> list[Accepted]:
        return await record_tips(batch, uow, ctx=ctx, now=ctx.now())

    # Tips submitted at the same moment share one transaction (one fsync) and a few statements; each is
    # answered only once the transaction that holds it has committed.
    accepted: Accepted = await ctx.db.group_commit("tips.intake", record).submit(prepared)
    if ctx.metrics:
        ctx.metrics.received.labels(accepted.channel, accepted.priority).inc()
    return accepted


async def on_inbound_tips(deliveries: Sequence[Delivery], uow: UnitOfWork, *, ctx: TipsContext) -> None:
    """Tips forwarded by other agencies, a batch at once; a repeated reference from the same agency is processed
    once (also within one batch).

    An unknown category is filed under `other` (never dropped). The reporter's identity arrives sealed to this
    service (`reporter_jwe`, see `domain.sealed`); one that cannot be opened is refused (`undecryptable_identity`)
    and the DLQ record keeps no body. When an agency sends an identity together with `anonymous: true`, the
    identity is kept (encrypted) and the tip is marked confidential rather than refused.
    A tip that does not pass intake validation is refused (`Reject`) before anything is prepared: the spine then
    runs each message alone, and only that one goes to the DLQ. The tips are stored as `record_tips` stores a
    group: as one after the other, duplicate links included.
    """
    known = await store.inbound_known(session=uow.session, refs=[
        (d.agency, d.data.reference) for d in deliveries if isinstance(d.data, TipSubmitted) and d.agency])
    new: list[tuple[str, str, SubmitTip]] = []
    keyring = ctx.inbound_keys()
    for delivery in deliveries:
        data = delivery.data
        assert isinstance(data, TipSubmitted) and delivery.agency is not None
        key = (delivery.agency, data.reference)
        if key in known:
            continue
        known.add(key)
        new.append((delivery.agency, data.reference, _inbound_command(data, keyring)))
    if not new:
        return
    prepared = [await prepare_tip(cmd, ctx=ctx, channel="agency", coerce_category=True) for _, _, cmd in new]
    accepted = await record_tips(prepared, uow, ctx=ctx, now=ctx.now())
    await store.insert_inbound_refs(session=uow.session, rows=[
        {"agency": agency, "reference": reference, "tip_id": a.tip_id}
        for (agency, reference, _), a in zip(new, accepted, strict=True)])
    await _reply_accepted([(agency, reference, a) for (agency, reference, _), a in zip(new, accepted, strict=True)],
                          uow, ctx=ctx)
    if ctx.metrics:
        for a in accepted:
            ctx.metrics.received.labels("agency", a.priority).inc()


async def _reply_accepted(replies: Sequence[tuple[str, str, Accepted]], uow: UnitOfWork, *,
                          ctx: TipsContext) -> None:
    """`TipAccepted.v1` to each agency, through the outbox in the tips' own transaction (so exactly once per tip):
    its reference, the tip id and the receipt encrypted to the agency's registered key. With no key registered
    the tip is still accepted and the reply says the receipt was withheld; the operator is warned (log, metric).
    Each agency's key is read, checked and imported once per batch; the encryption (an ephemeral ECDH key per
    receipt) runs off the event loop."""
    sealers: dict[str, ReceiptSealer | None] = {}
    for agency, _, _ in replies:
        if agency not in sealers:
            sealers[agency] = _sealer(agency, ctx.agency_keys(agency))

    def seal_all() -> list[str | None]:
        sealed: list[str | None] = []
        for agency, reference, accepted in replies:
            sealer = sealers[agency]
            sealed.append(None if sealer is None
                          else sealer.seal(accepted.receipt, tip_id=accepted.tip_id, reference=reference))
        return sealed

    sealed = await asyncio.to_thread(seal_all) if any(sealers.values()) else [None] * len(replies)
    withheld: dict[str, list[str]] = {}
    for (agency, reference, accepted), receipt_jwe in zip(replies, sealed, strict=True):
        if receipt_jwe is None:
            withheld.setdefault(agency, []).append(accepted.tip_id)
        reply = TipAccepted(reference=reference, tip_id=accepted.tip_id, accepted_at=accepted.received_at,
                            receipt_jwe=receipt_jwe, receipt_withheld=None if receipt_jwe else "no_agency_key")
        uow.emit(reply, subject=accepted.tip_id, publish_on=outbound_subject(agency, TipAccepted.TYPE))
    # One warning per agency and batch (a line per tip was a tenth of a forwarded tip's cost), naming every tip.
    for agency, tip_ids in withheld.items():
        log.warning("agency %s has no usable registered key: the receipts of %d tips were withheld (%s); register "
                    "one with `antq tips agency-key`", agency, len(tip_ids), ", ".join(tip_ids))
        if ctx.metrics:
            ctx.metrics.receipts_withheld.labels(agency).inc(len(tip_ids))


def _sealer(agency: str, jwks: Mapping[str, Any] | None) -> ReceiptSealer | None:
    """What seals an agency's receipts, or None when it has no usable registered key (its receipts are withheld)."""
    if jwks is None:
        return None
    try:
        return ReceiptSealer(jwks)
    except InvalidAgencyKey as exc:
        log.warning("agency %s: its registered key is unusable (%s); receipt withheld", agency, exc)
        return None


def _inbound_command(data: TipSubmitted, keyring: InboundKeyring) -> SubmitTip:
    # `reporter` and `on_behalf_of` are never set here: the contract refuses them in clear (plaintext_identity).
    raw = data.model_dump(exclude={"reference", "reporter_jwe", "reporter", "on_behalf_of"})
    if data.reporter_jwe is not None:
        try:
            identity = keyring.open(data.reporter_jwe)
        except UndecryptableIdentity as exc:
            raise Reject(f"undecryptable_identity: {exc}", kind="undecryptable_identity") from None
        raw["reporter"] = identity.model_dump(exclude={"on_behalf_of"})
        raw["on_behalf_of"] = identity.on_behalf_of.model_dump() if identity.on_behalf_of else None
    confidential = bool(raw.get("anonymous")) and raw.get("reporter") is not None
    if confidential:
        raw["anonymous"] = False
        raw["confidentiality_requested"] = True
    if raw.get("area_code") is not None and not (is_area_code(raw["area_code"]) and is_known_area(raw["area_code"])):
        raw["area_code"] = None  # an area code we cannot read or place; the text of the tip still says where
    if not raw.get("anonymous") and raw.get("reporter") is None:
        raw["anonymous"] = True
    try:
        return SubmitTip.model_validate(raw)
    except ValidationError as exc:
        # Field names only: the values may hold the reporter's personal data.
        raise Reject(f"tip does not pass intake validation: {', '.join(field_names(exc))}") from exc


async def on_unit_events(deliveries: list[Delivery], uow: UnitOfWork, *, now: datetime) -> None:
    """Keep the tips service's own read model of units: the kind of each registered unit (for the figures by
    unit kind), its name and area (for the public form's list of a commune's units), never anything else."""
    registered: dict[str, store.UnitSeen] = {}
    updated: dict[str, store.UnitSeen] = {}
    for delivery in deliveries:
        data = delivery.data
        if isinstance(data, UnitRegistered):
            registered.setdefault(data.unit_id, store.UnitSeen(kind=data.kind, name=data.name,
                                                              area_code=data.area_code))
        elif isinstance(data, UnitUpdated):
            name, area = data.changed.get("name"), data.changed.get("area_code")
            before = updated.get(data.unit_id, store.UnitSeen())
            updated[data.unit_id] = store.UnitSeen(
                name=name[:500] if isinstance(name, str) and name else before.name,
                area_code=area[:200] if isinstance(area, str) and area else before.area_code)
    await store.remember_units(session=uow.session, registered=registered, updated=updated, now=now)


# The public form lists at most this many units of one commune (by name); a commune with more is unusual and
# the person can still type to narrow the list or leave the unit out.
COMMUNE_UNITS_MAX = 500


async def commune_units(area_code: str, *, ctx: TipsContext, limit: int = COMMUNE_UNITS_MAX) -> list[dict[str, Any]]:
    """The named units of one commune from the tips service's own read model (never the units service)."""
    async with ctx.db.read() as session:
        return await store.units_in_area(session=session, area_code=area_code, limit=limit)


async def unit_is_in(unit_id: str, area_code: str, *, ctx: TipsContext) -> bool:
    async with ctx.db.read() as session:
        return await store.unit_in_area(session=session, unit_id=unit_id, area_code=area_code)


# --- deadlines -------------------------------------------------------------------------------------------------------
async def _deadline_columns(tip: Tip, uow: UnitOfWork, ctx: TipsContext,
                            emitted: set[DeadlineMarker] | None = None) -> dict[str, Any]:
    state = tip.deadline_state()
    running = current_deadline(state, ctx.deadline_rules)
    if emitted is None:
        emitted = await store.emitted_markers(session=uow.session, tip_id=tip.tip_id)
    return {
        "deadline_name": running.deadline if running else None,
        "deadline_due_at": running.due_at if running else None,
        "deadline_approaching_at": running.approaching_at if running else None,
        "next_wakeup_at": next_wakeup(state, emitted, ctx.deadline_rules),
    }


async def emit_owed_deadlines(tip_id: str, uow: UnitOfWork, *, ctx: TipsContext, now: datetime) -> int:
    """Emit the approaching/overdue events owed at `now`; each marker row is unique, so each is emitted once."""
    row = await store.get_tip_row(session=uow.session, tip_id=tip_id)
    if row is None:
        return 0
    tip = store.row_to_tip(row)
    emitted = await store.emitted_markers(session=uow.session, tip_id=tip_id)
    owed = owed_deadline_events(tip.deadline_state(), emitted, now, ctx.deadline_rules)
    for marker, event in owed:
        await store.insert_deadline_marker(session=uow.session, tip_id=tip_id, marker=marker, emitted_at=now)
        uow.emit(event)
        emitted.add(marker)
    await store.update_tip(session=uow.session, tip_id=tip_id,
                           values=await _deadline_columns(tip, uow, ctx, emitted))
    return len(owed)


# --- officer commands ------------------------------------------------------------------------------------------------
async def _load(uow: UnitOfWork, tip_id: str, principal: Principal, action: str,
                ctx: TipsContext) -> tuple[dict[str, Any], Tip]:
    row = await store.get_tip_row(session=uow.session, tip_id=tip_id)
    if row is None:
        raise NotFound("no such tip", details={"tip_id": tip_id})
    authorize_on(principal, action, area=row["scope_area"], desk=ctx.intake_desk)
    return row, store.row_to_tip(row)


async def _save(tip: Tip, events: Sequence[Any], uow: UnitOfWork, ctx: TipsContext, now: datetime) -> None:
    await store.update_tip(session=uow.session, tip_id=tip.tip_id,
                           values=store.tip_values(tip) | {"updated_at": now} | await _deadline_columns(tip, uow, ctx))
    for event in events:
        uow.emit(event)


async def _audit(uow: UnitOfWork, principal: Principal, action: str, tip_id: str, now: datetime, *,
                 reason: str | None = None, details: dict[str, Any] | None = None) -> None:
    await audit.append(uow.session, store.audit_log, actor=principal.sub, role=principal.role, action=action,
                       target=tip_id, reason=reason, details=details, at=now)


class TriageTip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str | None = Field(default=None, max_length=64)
    priority: Priority | None = None
    assigned_area: str | None = Field(default=None, max_length=AREA_CODE_MAX_LENGTH, pattern=AREA_PATTERN)
    assigned_officer: str | None = Field(default=None, max_length=200)


async def triage_tip(tip_id: str, cmd: TriageTip, uow: UnitOfWork, *, principal: Principal, ctx: TipsContext,
                     now: datetime) -> Tip:
    _, tip = await _load(uow, tip_id, principal, "tips.triage", ctx)
    if cmd.assigned_area is not None:
        check_known_area(cmd.assigned_area, "assigned_area")
        # Forwarding to an area outside one's own scope is an admin's (or that area's officers') call.
        authorize_on(principal, "tips.triage", area=cmd.assigned_area)
    new, events = triage(tip, now=now, categories=ctx.categories, deadline_rules=ctx.deadline_rules,
                         category=cmd.category, priority=cmd.priority, assigned_area=cmd.assigned_area,
                         assigned_officer=cmd.assigned_officer)
    await _save(new, events, uow, ctx, now)
    await _audit(uow, principal, "tip.triage", tip_id, now, details={
        "category": new.category, "priority": new.priority, "assigned_area": new.assigned_area,
        "assigned_officer": new.assigned_officer})
    return new


async def begin_verification_of(tip_id: str, uow: UnitOfWork, *, principal: Principal, ctx: TipsContext,
                                now: datetime) -> Tip:
    _, tip = await _load(uow, tip_id, principal, "tips.begin_verification", ctx)
    new, events = begin_verification(tip, now=now)
    await _save(new, events, uow, ctx, now)
    await _audit(uow, principal, "tip.begin_verification", tip_id, now)
    return new


class VerifyTip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    valuable: StrictBool
    outcome: TipOutcome
    suspension_reason: SuspensionReason | None = None
    duplicate_of: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=5000, description="For the audit trail, not the reporter")


async def verify_tip(tip_id: str, cmd: VerifyTip, uow: UnitOfWork, *, principal: Principal, ctx: TipsContext,
                     now: datetime) -> Tip:
    _, tip = await _load(uow, tip_id, principal, "tips.verify", ctx)
    if cmd.duplicate_of is not None and cmd.duplicate_of != tip_id:
        other = await store.get_tip_row(session=uow.session, tip_id=cmd.duplicate_of)
        if other is None:
            raise Invalid("duplicate_of names no tip", code="unknown_duplicate_of",
                          details={"duplicate_of": cmd.duplicate_of})
    new, events = verify(tip, valuable=cmd.valuable, outcome=cmd.outcome, now=now,
                         suspension_reason=cmd.suspension_reason, duplicate_of=cmd.duplicate_of)
    await _save(new, events, uow, ctx, now)
    if new.duplicate_of:
        await _confirm_link(uow, tip_id, new.duplicate_of, principal, now)
    await _audit(uow, principal, "tip.verify", tip_id, now, reason=cmd.note, details={
        "valuable": cmd.valuable, "outcome": cmd.outcome, "suspension_reason": cmd.suspension_reason,
        "duplicate_of": cmd.duplicate_of})
    return new


class ExtendTip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
    until: Instant | None = Field(default=None, description="Up to the legal maximum (the default)")


async def extend_tip(tip_id: str, cmd: ExtendTip, uow: UnitOfWork, *, principal: Principal, ctx: TipsContext,
                     now: datetime) -> Tip:
    _, tip = await _load(uow, tip_id, principal, "tips.extend", ctx)
    new, events = extend(tip, reason=cmd.reason, now=now, deadline_rules=ctx.deadline_rules, until=cmd.until)
    await _save(new, events, uow, ctx, now)
    await _audit(uow, principal, "tip.extend", tip_id, now, reason=cmd.reason,
                 details={"due_at": new.extensions[-1].due_at.isoformat(), "ordinal": new.extensions[-1].ordinal})
    return new


class CloseTip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=5000, description="For the audit trail, not the reporter")


async def close_tip(tip_id: str, cmd: CloseTip, uow: UnitOfWork, *, principal: Principal, ctx: TipsContext,
                    now: datetime) -> Tip:
    _, tip = await _load(uow, tip_id, principal, "tips.close", ctx)
    new, events = close(tip, now=now)
    await _save(new, events, uow, ctx, now)
    await _audit(uow, principal, "tip.close", tip_id, now, reason=cmd.note)
    return new


class OfficerMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5000)
    internal: StrictBool = Field(default=False, description="An internal note the reporter never sees")


async def post_officer_message(tip_id: str, cmd: OfficerMessage, uow: UnitOfWork, *, principal: Principal,
                               ctx: TipsContext, now: datetime) -> str:
    _, tip = await _load(uow, tip_id, principal, "tips.officer_message", ctx)
    message_id = str(uuid.uuid4())
    if cmd.internal:
        events: list[Any] = []  # a note is not part of the conversation: no TipMessagePosted
    else:
        _, events = post_message(tip, message_id=message_id, author="officer")
    await store.insert_message(session=uow.session, message_id=message_id, tip_id=tip_id, author="officer",
                               internal=cmd.internal, author_sub=principal.sub, text=cmd.text, created_at=now)
    for event in events:
        uow.emit(event)
    await _audit(uow, principal, "tip.note" if cmd.internal else "tip.message", tip_id, now,
                 details={"message_id": message_id})
    return message_id


async def _confirm_link(uow: UnitOfWork, tip_id: str, other_id: str, principal: Principal, now: datetime) -> None:
    link = await store.get_duplicate_link(session=uow.session, a=tip_id, b=other_id)
    if link is None:
        # Found by the officer rather than suggested: record it as confirmed.
        await store.insert_duplicate_links(session=uow.session, rows=[{
            "tip_id": tip_id, "other_id": other_id, "score": 1.0, "reasons": json.dumps(["confirmed_by_officer"]),
            "status": "confirmed", "created_at": now, "confirmed_by": principal.sub, "confirmed_at": now}])
    elif link["status"] != "confirmed":
        await store.confirm_duplicate_link(session=uow.session, tip_id=link["tip_id"], other_id=link["other_id"],
                                           by=principal.sub, at=now)


async def confirm_duplicate(tip_id: str, other_id: str, uow: UnitOfWork, *, principal: Principal,
                            ctx: TipsContext, now: datetime) -> None:
    if tip_id == other_id:
        raise Invalid("a tip cannot duplicate itself", code="duplicate_of_itself")
    await _load(uow, tip_id, principal, "tips.confirm_duplicate", ctx)
    await _load(uow, other_id, principal, "tips.confirm_duplicate", ctx)
    await _confirm_link(uow, tip_id, other_id, principal, now)
    await _audit(uow, principal, "tip.confirm_duplicate", tip_id, now, details={"other_id": other_id})


REVEAL_ACTION = "tip.reveal_reporter"  # the audit action of a reveal; the tip's page lists these entries


async def reveal_reporter(tip_id: str, reason: str, uow: UnitOfWork, *, principal: Principal, ctx: TipsContext,
                          now: datetime) -> dict[str, Any]:
    """The reporter's identity for an allowed officer, with the reason written to the audit trail first."""
    row, _ = await _load(uow, tip_id, principal, "tips.reveal_reporter", ctx)
    identity: dict[str, Any] = {"reporter": None, "on_behalf_of": None}
    if row["identity_enc"]:
        try:
            identity = ctx.cipher.decrypt(row["identity_enc"], context=tip_id)
        except IdentityDecryptError as exc:
            raise Conflict("the identity cannot be opened with the configured keys",
                           code="identity_key_missing") from exc
    await _audit(uow, principal, REVEAL_ACTION, tip_id, now, reason=reason,
                 details={"had_identity": row["identity_enc"] is not None})
    return identity


async def read_attachment(tip_id: str, attachment_id: str, uow: UnitOfWork, *, principal: Principal,
                          ctx: TipsContext, now: datetime) -> tuple[dict[str, Any], bytes]:
    await _load(uow, tip_id, principal, "tips.read_attachment", ctx)
    meta = await store.get_attachment(session=uow.session, tip_id=tip_id, attachment_id=attachment_id)
    if meta is None:
        raise NotFound("no such attachment")
    data = await ctx.storage.get(meta["storage_key"])
    await _audit(uow, principal, "tip.read_attachment", tip_id, now, details={"attachment_id": attachment_id})
    return meta, data


# --- the reporter's side: follow-up by receipt ------------------------------------------------------------------------
NO_TIP = "no tip matches this receipt"


async def authenticate_receipt(receipt: str, *, ctx: TipsContext) -> str:
    """The tip id for a receipt; the same 404 for a malformed code, an unknown lookup id and a wrong secret.

    An unknown lookup id costs the same time as a wrong secret (a dummy MAC is compared). A row hashed with an
    older receipt key, or with argon2id before HMAC, is re-hashed under the newest key once its receipt is shown.
    """
    try:
        parsed = parse_receipt(receipt)
    except Invalid:
        raise NotFound(NO_TIP, code="unknown_receipt") from None
    async with ctx.db.read() as session:
        row = await store.get_tip_by_lookup(session=session, lookup=parsed.lookup_id)
    stored = row["receipt_hash"] if row else None
    if stored is not None and stored.startswith("$argon2"):
        # A row from before HMAC: argon2id is slow, keep it off the event loop (once per row, then re-hashed).
        ok = await asyncio.to_thread(ctx.receipts.verify, parsed, stored)
    else:
        ok = ctx.receipts.verify(parsed, stored)
    if not ok or row is None:
        raise NotFound(NO_TIP, code="unknown_receipt")
    if ctx.receipts.needs_rehash(row["receipt_hash"]):
        new_hash = ctx.receipts.hash(parsed)
        async with ctx.db.unit_of_work() as uow:
            await store.update_tip(session=uow.session, tip_id=row["tip_id"], values={"receipt_hash": new_hash})
    return str(row["tip_id"])


def public_timeline(tip: Tip) -> list[dict[str, Any]]:
    """What the reporter may see of the handling: steps and their times, the result, never who or why."""
    steps: list[dict[str, Any]] = [{"step": "received", "at": tip.received_at}]
    if tip.triaged_at:
        steps.append({"step": "forwarded", "at": tip.triaged_at})
    if tip.verification_started_at and tip.verification_started_at != tip.decided_at:
        steps.append({"step": "verifying", "at": tip.verification_started_at})
    steps.extend({"step": "extended", "at": ext.requested_at} for ext in tip.extensions)
    if tip.decided_at:
        steps.append({"step": "dismissed" if tip.outcome in DISMISSAL_OUTCOMES else "decided",
                      "at": tip.decided_at, "outcome": tip.outcome})
    if tip.closed_at:
        steps.append({"step": "closed", "at": tip.closed_at, "outcome": tip.outcome})
    return steps


async def follow_up(receipt: str, *, ctx: TipsContext) -> dict[str, Any]:
    """What the reporter sees with the receipt: status, public timeline and messages (never internal notes)."""
    tip_id = await authenticate_receipt(receipt, ctx=ctx)
    async with ctx.db.read() as session:
        row = await store.get_tip_row(session=session, tip_id=tip_id)
        assert row is not None
        tip = store.row_to_tip(row)
        msgs = await store.list_messages(session=session, tip_id=tip_id, include_internal=False)
    category = ctx.categories.coerce(tip.category)
    return {
        "tip_id": tip.tip_id, "status": tip.status, "category": tip.category,
        "category_label_vi": category.label_vi, "category_label_en": category.label_en,
        "received_at": tip.received_at, "outcome": tip.outcome if tip.status in ("decided", "dismissed", "closed")
        else None, "timeline": public_timeline(tip),
        "messages": [{"message_id": m["message_id"], "author": m["author"], "text": m["text"],
                      "created_at": m["created_at"]} for m in msgs],
        "can_reply": "reporter_message" in tip.allowed_actions(),
    }


async def post_reporter_message(receipt: str, text: str, *, ctx: TipsContext) -> str:
    """The reporter writes to the officers; TipMessagePosted names the side, never the text."""
    tip_id = await authenticate_receipt(receipt, ctx=ctx)
    async with ctx.db.unit_of_work() as uow:
        row = await store.get_tip_row(session=uow.session, tip_id=tip_id)
        assert row is not None
        tip = store.row_to_tip(row)
        message_id = str(uuid.uuid4())
        _, events = post_message(tip, message_id=message_id, author="reporter")
        await store.insert_message(session=uow.session, message_id=message_id, tip_id=tip.tip_id,
                                   author="reporter", internal=False, author_sub=None, text=text,
                                   created_at=ctx.now())
        for event in events:
            uow.emit(event)
    return message_id


# --- officer reads ---------------------------------------------------------------------------------------------------
def tip_summary(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    due = row["deadline_due_at"]
    return {
        "tip_id": row["tip_id"], "status": row["status"], "category": row["category"], "priority": row["priority"],
        "channel": row["channel"], "area_code": row["area_code"], "unit_id": row["unit_id"],
        "assigned_area": row["assigned_area"], "assigned_officer": row["assigned_officer"],
        "anonymous": row["anonymous"], "received_at": row["received_at"], "outcome": row["outcome"],
        "valuable": row["valuable"], "deadline": row["deadline_name"], "due_at": due,
        "overdue": due is not None and now >= due,
    }


async def tip_detail(tip_id: str, uow: UnitOfWork, *, principal: Principal, ctx: TipsContext,
                     now: datetime) -> dict[str, Any]:
    row, tip = await _load(uow, tip_id, principal, "tips.read", ctx)
    session = uow.session
    msgs = await store.list_messages(session=session, tip_id=tip_id, include_internal=True)
    files = await store.list_attachments(session=session, tip_id=tip_id)
    links = await store.list_duplicate_links(session=session, tip_id=tip_id)
    reveals = await store.audit_entries(session=session, target=tip_id, action=REVEAL_ACTION)
    went_up = escalations(tip.deadline_state(), await store.emitted_markers(session=session, tip_id=tip_id),
                          ctx.deadline_rules)
    return tip_summary(row, now) | {
        "description": row["description"], "location": row["location"], "location_unknown": row["location_unknown"],
        "occurred_at": row["occurred_at"], "categories_version": row["categories_version"],
        "confidentiality_requested": row["confidentiality_requested"],
        "protection_requested": row["protection_requested"], "has_identity": row["identity_enc"] is not None,
        "triaged_at": row["triaged_at"], "verification_started_at": row["verification_started_at"],
        "decided_at": row["decided_at"], "closed_at": row["closed_at"],
        "suspension_reason": row["suspension_reason"], "duplicate_of": row["duplicate_of"],
        "allowed_actions": tip.allowed_actions(),
        "deadlines": [{"deadline": d.deadline, "started_at": d.started_at, "due_at": d.due_at,
                       "approaching_at": d.approaching_at, "ended_at": d.ended_at, "overdue": d.is_overdue(now)}
                      for d in deadline_instances(tip.deadline_state(), ctx.deadline_rules)],
        "escalations": [{"level": e.level, "to_area": e.to_area, "escalated_at": e.escalated_at} for e in went_up],
        "escalation_level": went_up[-1].level if went_up else None,
        "extensions": [{"ordinal": e.ordinal, "requested_at": e.requested_at, "reason": e.reason,
                        "due_at": e.due_at} for e in tip.extensions],
        "messages": [{"message_id": m["message_id"], "author": m["author"], "internal": m["internal"],
                      "author_sub": m["author_sub"], "text": m["text"], "created_at": m["created_at"]}
                     for m in msgs],
        "attachments": [{"attachment_id": a["attachment_id"], "filename": a["filename"],
                         "content_type": a["content_type"], "size": a["size"], "sha256": a["sha256"],
                         "url": f"/tips/{tip_id}/attachments/{a['attachment_id']}"} for a in files],
        "duplicates": [{"tip_id": link["other_id"] if link["tip_id"] == tip_id else link["tip_id"],
                        "score": link["score"], "reasons": json.loads(link["reasons"]), "status": link["status"],
                        "url": "/tips/" + (link["other_id"] if link["tip_id"] == tip_id else link["tip_id"])}
                       for link in links],
        "reveals": [{"by": r["actor"], "role": r["role"], "at": r["at"], "reason": r["reason"]} for r in reveals],
    }

