"""The awards service's tables and data-access functions (its own database)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.awards.domain import Award, CertificationRecord, PriorAward, UnitFacts
from shared.areas import area_within
from shared.audit import audit_table
from shared.db import BigId, UTCDateTime, chunks, insert_many, write_rows

metadata = MetaData()

# --- facts learnt from other services' events ----------------------------------------------------------------
# Unit -> area, from UnitRegistered/UnitUpdated: collective awards are scoped (and counted for quotas) by area.
units = Table(
    "units",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("area_code", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per unit and year: the recognition (UnitCertified) and its revocation, folded in any order.
unit_certifications = Table(
    "unit_certifications",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("certified_event_id", String(200), nullable=True),
    Column("rating", String(16), nullable=True),
    Column("decision_no", String(200), nullable=True),
    Column("decided_by_level", String(16), nullable=True),
    Column("consecutive_years", Integer, nullable=True),
    Column("revoked", Boolean, nullable=False),
    Column("revoked_event_id", String(200), nullable=True),
    Column("revoked_reason", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # A past year from the history import (RecognitionImported), not decided in antq.
    Column("imported", Boolean, nullable=False, default=False),
)

# Tip -> area (TipReceived/TipTriaged) and its verification (TipVerified). No reporter data ever reaches here:
# the reward_ref is a one-way hash of the reporter's receipt.
tips = Table(
    "tips",
    metadata,
    Column("tip_id", String(200), primary_key=True),
    Column("area_code", String(64), nullable=True),
    Column("assigned_area", String(64), nullable=True),
    Column("unit_id", String(200), nullable=True),
    Column("received", Boolean, nullable=False),
    Column("verified_event_id", String(200), nullable=True),
    Column("valuable", Boolean, nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("reward_ref", String(64), nullable=True),
    Column("verified_on", String(10), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_tips_reward_ref", "reward_ref"),
)

# --- the service's own aggregates -------------------------------------------------------------------------------
awards = Table(
    "awards",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("award_id", String(64), nullable=False, unique=True),
    # sha256 of (type, recipient, year): the idempotency key of rule evaluation; a replay collides with it.
    Column("key", String(64), nullable=False, unique=True),
    Column("award_type", String(64), nullable=False),
    Column("recipient_kind", String(16), nullable=False),
    Column("recipient_ref", String(200), nullable=False),
    Column("recipient_name", String(500), nullable=True),
    Column("year", Integer, nullable=False),
    Column("basis", Text, nullable=False),  # JSON list of event ids
    Column("level", String(32), nullable=False),
    Column("area_code", String(64), nullable=True),
    Column("province_code", String(16), nullable=True),
    Column("rule_version", String(100), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON list
    Column("origin", String(16), nullable=False),
    Column("nomination", Text, nullable=True),  # JSON: the manual nomination's eligibility facts
    Column("status", String(16), nullable=False),
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("review_due_at", UTCDateTime, nullable=False),
    Column("reviewed_at", UTCDateTime, nullable=True),
    Column("overdue_at", UTCDateTime, nullable=True),
    Column("decision_no", String(200), nullable=True),
    Column("approved_by_level", String(32), nullable=True),
    Column("approved_at", UTCDateTime, nullable=True),
    Column("certificate_id", String(64), nullable=True),
    Column("granted_at", UTCDateTime, nullable=True),
    Column("reason", Text, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("closed_by_revocation", String(200), nullable=True),  # the CertificationRevoked event that closed it
    Column("updated_at", UTCDateTime, nullable=False),
    Column("revision", Integer, nullable=False),
    Index("ix_awards_recipient", "recipient_kind", "recipient_ref"),
    Index("ix_awards_type_year", "award_type", "year"),
    Index("ix_awards_status_due", "status", "review_due_at"),
    Index("ix_awards_area", "area_code"),
)

certificates = Table(
    "certificates",
    metadata,
    Column("certificate_id", String(64), primary_key=True),
    Column("award_id", String(64), nullable=False, unique=True),
    Column("jws", Text, nullable=False),
    Column("credential", Text, nullable=False),
    Column("kid", String(100), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_reason", Text, nullable=True),
    # Position in the revocation status lists (`domain.status_list`); None for certificates signed before them.
    Column("status_index", Integer, nullable=True),
    UniqueConstraint("status_index", name="uq_certificates_status_index"),
)

audit_log = audit_table(metadata)
Index("ix_audit_log_target", audit_log.c.target)

_AWARD_FIELDS = set(Award.model_fields)
PENDING = ("proposed", "reviewed")


# --- writers' locks --------------------------------------------------------------------------------------------
async def advisory_lock(*, session: AsyncSession, name: str) -> None:
    """A transaction-scoped advisory lock named `name` (PostgreSQL only)."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


async def _write_back(session: AsyncSession, table: Table, key: list[str], rows: Mapping[Any, dict[str, Any] | None],
                      stored: set[Any]) -> None:
    """Write rows a batch view changed in memory: inserted when not `stored` before, updated when they were;
    their keys are then stored."""
    ordered = sorted(rows.items(), key=str)
    await write_rows(session, table, key,
                     new=[row for k, row in ordered if k not in stored and row is not None],
                     changed=[row for k, row in ordered if k in stored and row is not None])
    stored |= set(rows)


# --- units and certifications ----------------------------------------------------------------------------------
def province_of(area_code: str | None) -> str | None:
    return area_code.split(".", 1)[0] if area_code else None


async def units_by_id(*, session: AsyncSession, unit_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The stored units among `unit_ids`."""
    found: list[dict[str, Any]] = []
    for chunk in chunks(list(unit_ids)):
        found += [dict(r) for r in (await session.execute(select(units).where(units.c.unit_id.in_(chunk)))).mappings()]
    return found


async def certifications_of_units(*, session: AsyncSession, unit_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The `unit_certifications` rows of the units `unit_ids`."""
    c = unit_certifications.c
    found: list[dict[str, Any]] = []
    for chunk in chunks(list(unit_ids)):
        found += [dict(r) for r in (await session.execute(select(unit_certifications).where(
            c.unit_id.in_(chunk)))).mappings()]
    return found


async def write_units(*, session: AsyncSession, rows: Mapping[str, dict[str, Any] | None], stored: set[str]) -> None:
    """Write the units a batch changed (see `_write_back`)."""
    await _write_back(session, units, ["unit_id"], rows, stored)


async def write_certifications(*, session: AsyncSession, rows: Mapping[tuple[str, int], dict[str, Any] | None],
                               stored: set[tuple[str, int]]) -> None:
    """Write the recognitions a batch changed (see `_write_back`)."""
    await _write_back(session, unit_certifications, ["unit_id", "year"], rows, stored)


def blank_certification(unit_id: str, year: int) -> dict[str, Any]:
    """A `unit_certifications` row with nothing recorded yet."""
    return {c.name: None for c in unit_certifications.columns} | {"unit_id": unit_id, "year": year}


async def get_unit(*, session: AsyncSession, unit_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(units).where(units.c.unit_id == unit_id))).mappings().first()
    return dict(row) if row else None


async def load_unit_facts(*, session: AsyncSession, unit_id: str, area_code: str | None) -> UnitFacts:
    rows = (await session.execute(
        select(unit_certifications).where(unit_certifications.c.unit_id == unit_id))).mappings()
    return unit_facts(unit_id, area_code, rows)


def unit_facts(unit_id: str, area_code: str | None, rows: Iterable[Mapping[Any, Any]]) -> UnitFacts:
    """A unit's recognitions from its `unit_certifications` rows."""
    records = {
        r["year"]: CertificationRecord(year=r["year"], event_id=r["certified_event_id"], rating=r["rating"],
                                       decided_by_level=r["decided_by_level"], revoked=r["revoked"],
                                       revoked_event_id=r["revoked_event_id"], imported=bool(r.get("imported")))
        for r in rows
    }
    return UnitFacts(unit_id=unit_id, area_code=area_code or "", province_code=province_of(area_code) or "",
                     certifications=records)


def certification_values(record: CertificationRecord, now: datetime, **extra: Any) -> dict[str, Any]:
    """The `unit_certifications` columns a recognition record sets (besides its unit and year)."""
    return {"certified_event_id": record.event_id, "rating": record.rating,
            "decided_by_level": record.decided_by_level, "revoked": record.revoked,
            "revoked_event_id": record.revoked_event_id, "imported": record.imported, "updated_at": now, **extra}


async def save_certification(*, session: AsyncSession, unit_id: str, record: CertificationRecord, now: datetime,
                             **extra: Any) -> None:
    values = certification_values(record, now, **extra)
    t = unit_certifications
    exists = (await session.execute(select(t.c.year).where(t.c.unit_id == unit_id, t.c.year == record.year))).first()
    if exists is None:
        await session.execute(insert(t).values(unit_id=unit_id, year=record.year, **values))
    else:
        await session.execute(update(t).where(t.c.unit_id == unit_id, t.c.year == record.year).values(**values))


async def list_certifications(*, session: AsyncSession, unit_id: str) -> list[dict[str, Any]]:
    t = unit_certifications
    rows = await session.execute(select(t).where(t.c.unit_id == unit_id).order_by(t.c.year))
    return [dict(r) for r in rows.mappings()]


# --- tips --------------------------------------------------------------------------------------------------------
async def tips_by_id(*, session: AsyncSession, tip_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The stored tips among `tip_ids`."""
    found: list[dict[str, Any]] = []
    for chunk in chunks(list(tip_ids)):
        found += [dict(r) for r in (await session.execute(select(tips).where(tips.c.tip_id.in_(chunk)))).mappings()]
    return found


def blank_tip(tip_id: str) -> dict[str, Any]:
    """A tip the service has not heard of: not received, its other columns empty."""
    return {c.name: None for c in tips.columns} | {"tip_id": tip_id, "received": False}


async def write_tips(*, session: AsyncSession, rows: Mapping[str, dict[str, Any] | None], stored: set[str]) -> None:
    """Write the tips a batch changed (see `_write_back`)."""
    await _write_back(session, tips, ["tip_id"], rows, stored)


async def tips_by_reward_ref(*, session: AsyncSession, reward_ref: str) -> list[dict[str, Any]]:
    rows = await session.execute(select(tips).where(tips.c.reward_ref == reward_ref))
    return [dict(r) for r in rows.mappings()]


# --- awards ------------------------------------------------------------------------------------------------------
def award_from_row(row: Any) -> Award:
    data = {k: row[k] for k in _AWARD_FIELDS if k not in ("basis", "evidence")}
    data["basis"] = tuple(json.loads(row["basis"]))
    data["evidence"] = tuple(json.loads(row["evidence"]))
    return Award.model_validate(data)


def _award_values(award: Award) -> dict[str, Any]:
    values = award.model_dump()
    values["basis"] = json.dumps(list(award.basis))
    values["evidence"] = json.dumps(list(award.evidence), ensure_ascii=False)
    return values


async def insert_award(*, session: AsyncSession, award: Award, recipient_name: str | None = None,
                       nomination: dict[str, Any] | None = None) -> bool:
    """A new award; False (and nothing written) when one with its key or id is stored already (proposed meanwhile
    by a concurrent transaction)."""
    try:
        async with session.begin_nested():
            await session.execute(insert(awards).values(
                **_award_values(award), recipient_name=recipient_name,
                nomination=json.dumps(nomination, ensure_ascii=False, default=str) if nomination else None))
    except IntegrityError:
        return False
    return True


async def insert_awards(*, session: AsyncSession, awards_named: Sequence[tuple[Award, str | None]]) -> bool:
    """New awards (each with its recipient's name) in one statement; False (and none written) when one of them is
    stored already."""
    try:
        async with session.begin_nested():
            await insert_many(session, awards, [
                {**_award_values(award), "recipient_name": name, "nomination": None} for award, name in awards_named])
    except IntegrityError:
        return False
    return True


async def save_award(*, session: AsyncSession, award: Award, expected_revision: int, **extra: Any) -> bool:
    """Write a new revision; False when another transaction changed the award first (optimistic lock)."""
    values = _award_values(award)
    for immutable in ("award_id", "key"):
        values.pop(immutable)
    result = await session.execute(
        update(awards).where(awards.c.award_id == award.award_id, awards.c.revision == expected_revision)
        .values(**values, **extra))
    return bool(getattr(result, "rowcount", 0))


async def get_award_row(*, session: AsyncSession, award_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(awards).where(awards.c.award_id == award_id))).mappings().first()
    return dict(row) if row else None


@dataclass(frozen=True)
class AwardFilter:
    """The conditions of a list of awards, all of which hold (None: no condition)."""

    within: tuple[str, ...] = ()  # areas the award's area lies in (each of them)
    collective_only: bool = False  # only the collective awards of `unit`
    unit: str | None = None
    status: str | None = None
    year: int | None = None
    recipient_kind: str | None = None
    award_type: str | None = None
    recipient_ref: str | None = None
    levels: tuple[str, ...] = ()  # decided at one of these levels (none: any)
    pending: bool | None = None  # awaiting a decision (proposed or reviewed), or not
    overdue: bool | None = None  # pending past the review deadline at `now`, or not


def _award_conditions(where: AwardFilter, now: datetime) -> list[Any]:
    t = awards.c
    conditions: list[Any] = [area_filter(t.area_code, area) for area in where.within]
    if where.collective_only:
        conditions += [t.recipient_kind == "unit", t.recipient_ref == where.unit]
    for column, value in ((t.status, where.status), (t.year, where.year), (t.recipient_kind, where.recipient_kind),
                          (t.award_type, where.award_type), (t.recipient_ref, where.recipient_ref)):
        if value is not None:
            conditions.append(column == value)
    if where.levels:
        conditions.append(t.level.in_(list(where.levels)))
    pending = t.status.in_(PENDING)
    overdue = and_(t.status.in_(PENDING), t.review_due_at < now)
    for clause, wanted in ((pending, where.pending), (overdue, where.overdue)):
        if wanted is not None:
            conditions.append(clause if wanted else not_(clause))
    return conditions


async def list_awards(*, session: AsyncSession, where: AwardFilter, now: datetime, before: int | None,
                      limit: int) -> list[dict[str, Any]]:
    """Award rows newest first (by `seq`), below `before` when given, at most `limit`."""
    conditions = _award_conditions(where, now)
    if before is not None:
        conditions.append(awards.c.seq < before)
    rows = await session.execute(select(awards).where(*conditions).order_by(awards.c.seq.desc()).limit(limit))
    return [dict(r) for r in rows.mappings()]


async def award_counts(*, session: AsyncSession, year: int | None, area_code: str | None) -> list[dict[str, Any]]:
    """How many awards of each type, level, area, year, recipient kind and status (`n`), in a year and an area
    (None: all)."""
    t = awards.c
    conditions: list[Any] = []
    if year is not None:
        conditions.append(t.year == year)
    if area_code is not None:
        conditions.append(area_filter(t.area_code, area_code))
    groups = (t.award_type, t.level, t.area_code, t.year, t.recipient_kind, t.status)
    rows = await session.execute(select(*groups, func.count().label("n")).where(*conditions).group_by(*groups))
    return [dict(r) for r in rows.mappings()]


async def count_by_status_and_type(*, session: AsyncSession) -> dict[tuple[str, str], int]:
    """How many awards of each (status, award type)."""
    t = awards.c
    rows = await session.execute(select(t.status, t.award_type, func.count()).group_by(t.status, t.award_type))
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def unit_awards(*, session: AsyncSession, unit_ids: Sequence[str]) -> list[Award]:
    """The awards of the units `unit_ids`."""
    a = awards.c
    found: list[Award] = []
    for chunk in chunks(list(unit_ids)):
        rows = await session.execute(select(awards).where(a.recipient_kind == "unit", a.recipient_ref.in_(chunk)))
        found += [award_from_row(row) for row in rows.mappings()]
    return found


async def overdue_unflagged(*, session: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    """Pending awards past their review deadline at `now` and not flagged overdue yet."""
    t = awards.c
    rows = await session.execute(select(awards).where(t.status.in_(PENDING), t.review_due_at < now,
                                                      t.overdue_at.is_(None)))
    return [dict(r) for r in rows.mappings()]


async def flag_overdue(*, session: AsyncSession, award_id: str, now: datetime) -> None:
    await session.execute(update(awards).where(awards.c.award_id == award_id).values(overdue_at=now))


async def awards_of_recipient(*, session: AsyncSession, recipient_kind: str, recipient_ref: str) -> list[Award]:
    rows = await session.execute(select(awards).where(awards.c.recipient_kind == recipient_kind,
                                                      awards.c.recipient_ref == recipient_ref))
    return [award_from_row(r) for r in rows.mappings()]


async def rows_of_recipient(*, session: AsyncSession, recipient_kind: str,
                            recipient_ref: str) -> list[dict[str, Any]]:
    rows = await session.execute(select(awards).where(awards.c.recipient_kind == recipient_kind,
                                                      awards.c.recipient_ref == recipient_ref)
                                 .order_by(awards.c.seq))
    return [dict(r) for r in rows.mappings()]


async def tip_outcome_of_reward(*, session: AsyncSession, reward_ref: str) -> dict[str, Any] | None:
    """The verification a tip reporter's reward rests on (outcome, valuable, day verified), never the tip's id."""
    row = (await session.execute(select(tips.c.outcome, tips.c.valuable, tips.c.verified_on)
                                 .where(tips.c.reward_ref == reward_ref).limit(1))).mappings().first()
    return dict(row) if row else None


async def quota_used(*, session: AsyncSession, award_type: str, year: int, scope: str, code: str | None,
                     statuses: Iterable[str], exclude: str) -> int:
    """How many awards of a type and year in one quota scope (`province` or `area` code) have these statuses."""
    column = awards.c.province_code if scope == "province" else awards.c.area_code
    where = column.is_(None) if code is None else column == code
    return int((await session.execute(select(func.count()).select_from(awards).where(
        awards.c.award_type == award_type, awards.c.year == year, awards.c.status.in_(list(statuses)), where,
        awards.c.award_id != exclude))).scalar_one())


async def awards_of_type_year(*, session: AsyncSession, award_type: str, year: int) -> list[Award]:
    rows = await session.execute(select(awards).where(awards.c.award_type == award_type, awards.c.year == year))
    return [award_from_row(r) for r in rows.mappings()]


async def known_keys(*, session: AsyncSession, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    if not wanted:
        return set()
    rows = await session.execute(select(awards.c.key).where(awards.c.key.in_(wanted)))
    return {r[0] for r in rows}


async def recipient_area(*, session: AsyncSession, recipient_kind: str, recipient_ref: str) -> str | None:
    """The area the service knows for a recipient: a unit's area (from UnitRegistered/UnitUpdated), else the area
    of the recipient's latest award that has one; None when neither is known."""
    if recipient_kind == "unit":
        unit = await get_unit(session=session, unit_id=recipient_ref)
        if unit is not None:
            return str(unit["area_code"])
    row = (await session.execute(
        select(awards.c.area_code).where(awards.c.recipient_kind == recipient_kind,
                                         awards.c.recipient_ref == recipient_ref, awards.c.area_code.is_not(None))
        .order_by(awards.c.seq.desc()).limit(1))).first()
    return str(row[0]) if row else None


def prior_awards(items: Sequence[Award]) -> list[PriorAward]:
    return [PriorAward(award_type=a.award_type, recipient_kind=a.recipient_kind, recipient_ref=a.recipient_ref,
                       year=a.year, status=a.status) for a in items]


def area_filter(column: Any, area: str) -> Any:
    """Hierarchical area match in SQL: "79" covers "79" and "79.26743"."""
    return area_within(column, area)


# --- audit trail -----------------------------------------------------------------------------------------------
async def audit_of(*, session: AsyncSession, target: str) -> list[dict[str, Any]]:
    """The audit entries about `target` (an award id), oldest first."""
    a = audit_log.c
    return [dict(r) for r in (await session.execute(select(audit_log).where(a.target == target)
                                                    .order_by(a.seq))).mappings()]


# --- certificates --------------------------------------------------------------------------------------------------
async def get_certificate(*, session: AsyncSession, certificate_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(certificates).where(certificates.c.certificate_id == certificate_id))
           ).mappings().first()
    return dict(row) if row else None


async def insert_certificate(*, session: AsyncSession, certificate_id: str, award_id: str, jws: str,
                             credential: dict[str, Any], kid: str, issued_at: datetime, status_index: int) -> None:
    await session.execute(certificates.insert().values(
        certificate_id=certificate_id, award_id=award_id, jws=jws,
        credential=json.dumps(credential, ensure_ascii=False, sort_keys=True), kid=kid, issued_at=issued_at,
        status_index=status_index))


async def reinstate_certificate(*, session: AsyncSession, award_id: str) -> None:
    """The award's certificate verifies as valid again (its recognition was restored)."""
    await session.execute(update(certificates).where(certificates.c.award_id == award_id)
                          .values(revoked_at=None, revoked_reason=None))


async def revoke_certificate(*, session: AsyncSession, award_id: str, now: datetime, reason: str) -> None:
    await session.execute(update(certificates).where(certificates.c.award_id == award_id,
                                                     certificates.c.revoked_at.is_(None))
                          .values(revoked_at=now, revoked_reason=reason))


async def next_status_index(*, session: AsyncSession) -> int:
    """The next free position in the revocation status lists (writers are serialised, so max + 1 is free)."""
    value = (await session.execute(select(func.max(certificates.c.status_index)))).scalar_one_or_none()
    return 0 if value is None else int(value) + 1


async def revoked_status_indexes(*, session: AsyncSession, first: int, last: int) -> list[int]:
    """Status indexes in [first, last) whose certificate is revoked now."""
    c = certificates.c
    rows = await session.execute(select(c.status_index).where(
        c.status_index >= first, c.status_index < last, c.revoked_at.is_not(None)))
    return [int(r[0]) for r in rows]

