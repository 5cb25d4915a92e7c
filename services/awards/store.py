"""The awards service's tables and data-access functions (its own database)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
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
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.awards.domain import Award, CertificationRecord, PriorAward, UnitFacts
from shared.areas import area_within
from shared.audit import audit_table
from shared.db import BigId, UTCDateTime, insert_many

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


# --- units and certifications ----------------------------------------------------------------------------------
def province_of(area_code: str | None) -> str | None:
    return area_code.split(".", 1)[0] if area_code else None


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
                       nomination: dict[str, Any] | None = None) -> None:
    await session.execute(insert(awards).values(
        **_award_values(award), recipient_name=recipient_name,
        nomination=json.dumps(nomination, ensure_ascii=False, default=str) if nomination else None))


async def insert_awards(*, session: AsyncSession, awards_named: Sequence[tuple[Award, str | None]]) -> None:
    """New awards (each with its recipient's name) in one statement."""
    await insert_many(session, awards, [
        {**_award_values(award), "recipient_name": name, "nomination": None} for award, name in awards_named])


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


# --- certificates --------------------------------------------------------------------------------------------------
async def get_certificate(*, session: AsyncSession, certificate_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(certificates).where(certificates.c.certificate_id == certificate_id))
           ).mappings().first()
    return dict(row) if row else None


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

