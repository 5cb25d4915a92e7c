"""The tips service's tables and data-access functions (its own database)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.tips.domain import DeadlineMarker, Extension, Tip
from shared.areas import area_within
from shared.audit import audit_table
from shared.db import BigId, UTCDateTime, chunks, insert_many, pairs_present
from shared.errors import Conflict

metadata = MetaData()

tips = Table(
    "tips",
    metadata,
    Column("tip_id", String(64), primary_key=True),
    Column("category", String(64), nullable=False),
    Column("categories_version", String(32), nullable=True),
    Column("channel", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("area_code", String(64), nullable=True),
    Column("unit_id", String(200), nullable=True),
    # The area whose officers see the tip: the assigned area once triaged, else the reported one.
    Column("scope_area", String(64), nullable=True),
    Column("anonymous", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("location", Text, nullable=True),
    Column("location_unknown", Boolean, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=True),
    Column("confidentiality_requested", Boolean, nullable=False),
    Column("protection_requested", Boolean, nullable=False),
    # Reporter identity (and organisation), encrypted with IdentityCipher; never copied anywhere else.
    Column("identity_enc", Text, nullable=True),
    Column("receipt_lookup", String(16), nullable=False, unique=True),
    Column("receipt_hash", String(200), nullable=False),
    Column("reward_ref", String(100), nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("assigned_area", String(64), nullable=True),
    Column("assigned_officer", String(200), nullable=True),
    Column("triaged_at", UTCDateTime, nullable=True),
    Column("verification_started_at", UTCDateTime, nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("valuable", Boolean, nullable=True),
    Column("suspension_reason", String(64), nullable=True),
    Column("duplicate_of", String(64), nullable=True),
    Column("extensions", Text, nullable=False),
    # The running deadline (denormalised for the queue's overdue filter and the gauges) and the scheduler's
    # next trigger (None when nothing is owed any more).
    Column("deadline_name", String(32), nullable=True),
    Column("deadline_due_at", UTCDateTime, nullable=True),
    Column("deadline_approaching_at", UTCDateTime, nullable=True),
    Column("next_wakeup_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_tips_status_scope", "status", "scope_area"),
    Index("ix_tips_received", "received_at"),
    Index("ix_tips_wakeup", "next_wakeup_at"),
    # The queue by nearest deadline walks this index and stops after a page (no sort of the whole area).
    Index("ix_tips_deadline", "deadline_due_at", "tip_id"),
    Index("ix_tips_dup", "category", "received_at"),
)

messages = Table(
    "tip_messages",
    metadata,
    # The sequence orders messages written within the same instant (clocks are coarse; tests freeze them).
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("tip_id", String(64), nullable=False),
    Column("author", String(16), nullable=False),  # reporter | officer
    Column("internal", Boolean, nullable=False),  # an officers' note the reporter never sees
    Column("author_sub", String(200), nullable=True),  # the officer's token subject; None for the reporter
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_tip_messages_tip", "tip_id", "seq"),
)

attachments = Table(
    "tip_attachments",
    metadata,
    Column("attachment_id", String(64), primary_key=True),
    Column("tip_id", String(64), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_tip_attachments_tip", "tip_id"),
)

duplicate_links = Table(
    "tip_duplicate_links",
    metadata,
    Column("tip_id", String(64), primary_key=True),  # the newer tip
    Column("other_id", String(64), primary_key=True),  # the earlier one it may duplicate
    Column("score", Float, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("status", String(16), nullable=False),  # suggested | confirmed
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_by", String(200), nullable=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Index("ix_tip_duplicate_links_other", "other_id"),
)

# One row per (tip, deadline marker) emitted, written in the same transaction as the event's outbox row: the
# unique key makes a second emission impossible, even with two scheduler instances or after a restart.
deadline_markers = Table(
    "tip_deadline_markers",
    metadata,
    Column("tip_id", String(64), primary_key=True),
    Column("marker", String(120), primary_key=True),
    Column("deadline", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("emitted_at", UTCDateTime, nullable=False),
)

# The tips service's own read model of units, from UnitRegistered and UnitUpdated: the kind (agency, enterprise,
# school; it never changes) for the figures by unit kind, the name and area for the public form's list of the
# units of a commune. The table keeps its first name; name and area are null for a unit only known from before
# they were kept, until its next UnitUpdated.
unit_kinds = Table(
    "unit_kinds",
    metadata,
    Column("unit_id", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("name", String(500), nullable=True),
    Column("area_code", String(200), nullable=True),
    Index("ix_unit_kinds_area", "area_code", "name"),
)

inbound_refs = Table(
    "inbound_refs",
    metadata,
    Column("agency", String(64), primary_key=True),
    Column("reference", String(200), primary_key=True),
    Column("tip_id", String(64), nullable=False),
)

audit_log = audit_table(metadata)


# --- mapping between rows and the domain's Tip -------------------------------------------------------------------
def _extensions_to_json(extensions: Sequence[Extension]) -> str:
    return json.dumps([{"ordinal": e.ordinal, "requested_at": e.requested_at.isoformat(), "reason": e.reason,
                        "due_at": e.due_at.isoformat()} for e in extensions], ensure_ascii=False)


def _extensions_from_json(raw: str | None) -> tuple[Extension, ...]:
    return tuple(Extension(ordinal=e["ordinal"], requested_at=datetime.fromisoformat(e["requested_at"]),
                           reason=e["reason"], due_at=datetime.fromisoformat(e["due_at"]))
                 for e in json.loads(raw or "[]"))


def row_to_tip(row: Any) -> Tip:
    return Tip(
        tip_id=row["tip_id"], category=row["category"], channel=row["channel"], received_at=row["received_at"],
        anonymous=row["anonymous"], priority=row["priority"], status=row["status"], area_code=row["area_code"],
        unit_id=row["unit_id"], categories_version=row["categories_version"], reward_ref=row["reward_ref"],
        assigned_area=row["assigned_area"], assigned_officer=row["assigned_officer"],
        triaged_at=row["triaged_at"], verification_started_at=row["verification_started_at"],
        decided_at=row["decided_at"], closed_at=row["closed_at"], outcome=row["outcome"],
        valuable=row["valuable"], suspension_reason=row["suspension_reason"], duplicate_of=row["duplicate_of"],
        extensions=_extensions_from_json(row["extensions"]),
    )


def tip_values(tip: Tip) -> dict[str, Any]:
    """The columns the domain's Tip owns (identity, receipt and text columns are written once at intake)."""
    return {
        "category": tip.category, "categories_version": tip.categories_version, "channel": tip.channel,
        "status": tip.status, "priority": tip.priority, "area_code": tip.area_code, "unit_id": tip.unit_id,
        "scope_area": tip.assigned_area or tip.area_code, "anonymous": tip.anonymous, "reward_ref": tip.reward_ref,
        "received_at": tip.received_at, "assigned_area": tip.assigned_area,
        "assigned_officer": tip.assigned_officer, "triaged_at": tip.triaged_at,
        "verification_started_at": tip.verification_started_at, "decided_at": tip.decided_at,
        "closed_at": tip.closed_at, "outcome": tip.outcome, "valuable": tip.valuable,
        "suspension_reason": tip.suspension_reason, "duplicate_of": tip.duplicate_of,
        "extensions": _extensions_to_json(tip.extensions),
    }


# --- tips --------------------------------------------------------------------------------------------------------
async def get_tip_row(*, session: AsyncSession, tip_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(tips).where(tips.c.tip_id == tip_id))).mappings().first()
    return dict(row) if row else None


async def get_tip_by_lookup(*, session: AsyncSession, lookup: str) -> dict[str, Any] | None:
    row = (await session.execute(select(tips).where(tips.c.receipt_lookup == lookup))).mappings().first()
    return dict(row) if row else None


async def insert_tips(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_many(session, tips, rows)


# Built once: every intake transaction runs it, and a statement object that is reused keeps its cache key, so
# SQLAlchemy neither builds the query nor walks it again to find its compiled form (the list is expanded at run).
_LOOKUPS_TAKEN = select(tips.c.receipt_lookup).where(tips.c.receipt_lookup.in_(bindparam("lookups", expanding=True)))


async def lookups_taken(*, session: AsyncSession, lookups: Sequence[str]) -> set[str]:
    """Which of these receipt lookup ids are already used."""
    rows = await session.execute(_LOOKUPS_TAKEN, {"lookups": list(lookups)})
    return {r[0] for r in rows}


async def receipt_hash_prefixes(*, session: AsyncSession) -> dict[str, int]:
    """How many tips' receipt hashes begin with each 23-character prefix (it names the receipt key of an HMAC
    row, `$hmac-sha256$k=<key id>`; argon2id rows from before HMAC begin with `$argon2`)."""
    prefix = func.substr(tips.c.receipt_hash, 1, 23)
    rows = await session.execute(select(prefix, func.count()).group_by(prefix))
    return {str(p): int(n) for p, n in rows}


async def update_tip(*, session: AsyncSession, tip_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(tips).where(tips.c.tip_id == tip_id).values(**values))


def area_clause(area: str) -> Any:
    """Tips whose scope area is `area` or lies under it (hierarchical codes: "79" covers "79.26743")."""
    return area_within(tips.c.scope_area, area)


OPEN_STATES = ("received", "triaged", "verifying")  # `status=open`: every state a tip is still worked in


@dataclass(frozen=True)
class QueueFilter:
    """The officer queue's filters, shared by the list and its counts. `scope` is the caller's area (None for an
    admin); `officer` is the caller's token subject, for `assigned=me`."""

    now: datetime
    scope: str | None
    officer: str = ""
    status: str | None = None
    category: str | None = None
    area_code: str | None = None
    overdue: bool | None = None
    priority: str | None = None
    channel: str | None = None
    assigned: str | None = None  # me | none
    due_within_days: int | None = None
    intake_desk: bool = False  # the caller works the intake desk: the tips with no area are in their queue too

    def due_by(self, days: int) -> datetime:
        return self.now + timedelta(days=days)


def _overdue(now: datetime) -> Any:
    return and_(tips.c.deadline_due_at.is_not(None), tips.c.deadline_due_at <= now)


def _due_within(now: datetime, until: datetime) -> Any:
    """A running deadline not passed yet that falls within the horizon."""
    return and_(tips.c.deadline_due_at.is_not(None), tips.c.deadline_due_at > now, tips.c.deadline_due_at <= until)


def _status(status: str) -> Any:
    return tips.c.status.in_(OPEN_STATES) if status == "open" else tips.c.status == status


def _assigned(assigned: str, officer: str) -> Any:
    return tips.c.assigned_officer.is_(None) if assigned == "none" else tips.c.assigned_officer == officer


def queue_where(f: QueueFilter) -> list[Any]:
    """The WHERE clauses of a queue filter; the scope clause is the policy's area scoping, always applied."""
    where: list[Any] = []
    if f.scope is not None:
        in_scope = area_clause(f.scope)
        where.append(or_(in_scope, tips.c.scope_area.is_(None)) if f.intake_desk else in_scope)
    if f.status:
        where.append(_status(f.status))
    if f.category:
        where.append(tips.c.category == f.category)
    if f.area_code:
        where.append(area_clause(f.area_code))
    if f.priority:
        where.append(tips.c.priority == f.priority)
    if f.channel:
        where.append(tips.c.channel == f.channel)
    if f.assigned:
        where.append(_assigned(f.assigned, f.officer))
    if f.overdue is True:
        where.append(_overdue(f.now))
    elif f.overdue is False:
        where.append(or_(tips.c.deadline_due_at.is_(None), tips.c.deadline_due_at > f.now))
    if f.due_within_days is not None:
        where.append(_due_within(f.now, f.due_by(f.due_within_days)))
    return where


async def list_tips(*, session: AsyncSession, limit: int, after: tuple[datetime, str] | None,
                    f: QueueFilter) -> list[dict[str, Any]]:
    """The officer queue, newest first, keyset-paginated on (received_at, tip_id); `limit + 1` rows at most."""
    query = select(tips).where(*queue_where(f))
    if after is not None:
        at, tip_id = after
        query = query.where(or_(tips.c.received_at < at, and_(tips.c.received_at == at, tips.c.tip_id < tip_id)))
    query = query.order_by(tips.c.received_at.desc(), tips.c.tip_id.desc()).limit(limit + 1)
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def list_tips_by_deadline(*, session: AsyncSession, limit: int, after: tuple[str, datetime, str] | None,
                                f: QueueFilter) -> list[dict[str, Any]]:
    """The officer queue by the nearest running legal deadline, `limit + 1` rows at most: first the tips with a
    running deadline, keyset on (due_at, tip_id) ascending; then those without one (decided, closed), newest
    first on (received_at, tip_id). `after` is (phase "due" | "none", instant, tip id) of the last row shown."""
    where = queue_where(f)
    rows: list[dict[str, Any]] = []
    if after is None or after[0] == "due":
        query = select(tips).where(*where, tips.c.deadline_due_at.is_not(None))
        if after is not None:
            _, at, tip_id = after
            query = query.where(or_(tips.c.deadline_due_at > at,
                                    and_(tips.c.deadline_due_at == at, tips.c.tip_id > tip_id)))
        query = query.order_by(tips.c.deadline_due_at, tips.c.tip_id).limit(limit + 1)
        rows = [dict(r) for r in (await session.execute(query)).mappings()]
        if len(rows) > limit:
            return rows
        after = None
    query = select(tips).where(*where, tips.c.deadline_due_at.is_(None))
    if after is not None:
        _, at, tip_id = after
        query = query.where(or_(tips.c.received_at < at, and_(tips.c.received_at == at, tips.c.tip_id < tip_id)))
    query = query.order_by(tips.c.received_at.desc(), tips.c.tip_id.desc()).limit(limit + 1 - len(rows))
    return rows + [dict(r) for r in (await session.execute(query)).mappings()]


QUEUE_COUNT_STATES = ("received", "triaged", "verifying", "decided", "dismissed", "closed")
QUEUE_COUNT_CHANNELS = ("web", "api", "agency")
QUEUE_COUNT_PRIORITIES = ("urgent", "normal")


async def queue_counts(*, session: AsyncSession, f: QueueFilter, soon_days: int) -> dict[str, Any]:
    """How many tips of the filtered queue fall under each filter value (state, priority, channel, assignment,
    overdue, due within `soon_days`), in one statement."""
    def n(clause: Any) -> Any:
        return func.coalesce(func.sum(case((clause, 1), else_=0)), 0)

    chips: dict[str, dict[str, Any]] = {
        "status": {s: _status(s) for s in ("open", *QUEUE_COUNT_STATES)},
        "priority": {p: tips.c.priority == p for p in QUEUE_COUNT_PRIORITIES},
        "channel": {c: tips.c.channel == c for c in QUEUE_COUNT_CHANNELS},
        "assigned": {a: _assigned(a, f.officer) for a in ("me", "none")},
        "deadline": {"overdue": _overdue(f.now), "due_soon": _due_within(f.now, f.due_by(soon_days))},
    }
    columns = [func.count()] + [n(clause) for group in chips.values() for clause in group.values()]
    values = iter(int(v) for v in (await session.execute(select(*columns).where(*queue_where(f)))).one())
    total = next(values)
    return {"total": total} | {name: {key: next(values) for key in group} for name, group in chips.items()}


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


DUPLICATE_CANDIDATES = 200  # the most recent tips of the same category and place a new tip is compared with


async def duplicate_candidates(*, session: AsyncSession,
                               wanted: Sequence[tuple[str, str | None, str | None, datetime, datetime, int]],
                               ) -> list[dict[str, Any]]:
    """The tips a batch of new ones may duplicate, newest first (ties by tip id, so that which of them count as
    the latest is always the same): for each wanted (category, area code, unit id, window start, window end,
    limit), at least its latest `limit` tips (the caller picks each tip's own).

    One statement of a fixed shape: the categories and places as lists, the union of the windows, at most the
    sum of the limits. Only when that returns as many rows as it may (a busy place) is it asked again per wanted
    tuple with its own limit."""
    wanted = sorted(set(wanted), key=str)
    places = [p for p in wanted if p[1] or p[2]]
    if not places:
        return []
    cap = sum(p[5] for p in places)
    areas = sorted({p[1] for p in places if p[1]})
    units = sorted({p[2] for p in places if p[2]})
    params: dict[str, Any] = {"categories": sorted({p[0] for p in places}), "start": min(p[3] for p in places),
                              "end": max(p[4] for p in places), "cap": cap}
    if areas:
        params["areas"] = areas
    if units:
        params["units"] = units
    rows = [r._asdict() for r in await session.execute(_CANDIDATES[bool(areas), bool(units)], params)]
    if len(rows) < cap:
        return rows
    parts = []
    for category, area_code, unit_id, start, end, limit in places:
        at = [c for c in (tips.c.area_code == area_code if area_code else None,
                          tips.c.unit_id == unit_id if unit_id else None) if c is not None]
        parts.append(_candidate_columns()
                     .where(tips.c.category == category, tips.c.received_at >= start, tips.c.received_at <= end,
                            or_(*at))
                     .order_by(tips.c.received_at.desc(), tips.c.tip_id.desc()).limit(limit).subquery())
    union = union_all(*(select(part) for part in parts)) if len(parts) > 1 else select(parts[0])
    seen: set[str] = set()
    rows = []
    for r in await session.execute(union):
        if r.tip_id not in seen:
            seen.add(r.tip_id)
            row = r._asdict()
            row["received_at"] = _utc(row["received_at"])  # as the driver returns a UNION's column
            rows.append(row)
    rows.sort(key=lambda r: (r["received_at"], r["tip_id"]), reverse=True)
    return rows


def _candidate_columns() -> Any:
    return select(tips.c.tip_id, tips.c.category, tips.c.received_at, tips.c.description, tips.c.area_code,
                  tips.c.unit_id)


def _candidates_query(by_area: bool, by_unit: bool) -> Any:
    """`duplicate_candidates`' one statement, with the lists, the window and the cap bound at run."""
    at = []
    if by_area:
        at.append(tips.c.area_code.in_(bindparam("areas", expanding=True)))
    if by_unit:
        at.append(tips.c.unit_id.in_(bindparam("units", expanding=True)))
    return (_candidate_columns()
            .where(tips.c.category.in_(bindparam("categories", expanding=True)),
                   tips.c.received_at >= bindparam("start", type_=tips.c.received_at.type),
                   tips.c.received_at <= bindparam("end", type_=tips.c.received_at.type), or_(*at))
            .order_by(tips.c.received_at.desc(), tips.c.tip_id.desc()).limit(bindparam("cap", type_=Integer)))


# Built once per shape (by area, by unit, by both), for the reason given at _LOOKUPS_TAKEN.
_CANDIDATES = {(a, u): _candidates_query(a, u) for a in (True, False) for u in (True, False) if a or u}


# --- messages, attachments, duplicates -----------------------------------------------------------------------------
async def list_messages(*, session: AsyncSession, tip_id: str, include_internal: bool) -> list[dict[str, Any]]:
    query = select(messages).where(messages.c.tip_id == tip_id)
    if not include_internal:
        query = query.where(messages.c.internal.is_(False))
    query = query.order_by(messages.c.seq)
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def list_attachments(*, session: AsyncSession, tip_id: str) -> list[dict[str, Any]]:
    query = select(attachments).where(attachments.c.tip_id == tip_id).order_by(attachments.c.created_at,
                                                                              attachments.c.attachment_id)
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def get_attachment(*, session: AsyncSession, tip_id: str, attachment_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(attachments).where(
        attachments.c.tip_id == tip_id, attachments.c.attachment_id == attachment_id))).mappings().first()
    return dict(row) if row else None


async def list_duplicate_links(*, session: AsyncSession, tip_id: str) -> list[dict[str, Any]]:
    query = select(duplicate_links).where(or_(duplicate_links.c.tip_id == tip_id,
                                              duplicate_links.c.other_id == tip_id))
    return [dict(r) for r in (await session.execute(query.order_by(duplicate_links.c.score.desc())))
            .mappings()]


async def get_duplicate_link(*, session: AsyncSession, a: str, b: str) -> dict[str, Any] | None:
    query = select(duplicate_links).where(or_(
        and_(duplicate_links.c.tip_id == a, duplicate_links.c.other_id == b),
        and_(duplicate_links.c.tip_id == b, duplicate_links.c.other_id == a)))
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


# --- audit ---------------------------------------------------------------------------------------------------------
async def audit_entries(*, session: AsyncSession, target: str, action: str) -> list[dict[str, Any]]:
    """The audit trail's entries of one action on one tip, oldest first (e.g. every reveal of its reporter)."""
    query = (select(audit_log.c.actor, audit_log.c.role, audit_log.c.at, audit_log.c.reason)
             .where(audit_log.c.target == target, audit_log.c.action == action).order_by(audit_log.c.seq))
    return [dict(r) for r in (await session.execute(query)).mappings()]


# --- deadlines -----------------------------------------------------------------------------------------------------
async def emitted_markers(*, session: AsyncSession, tip_id: str) -> set[DeadlineMarker]:
    rows = await session.execute(select(deadline_markers.c.deadline, deadline_markers.c.kind,
                                        deadline_markers.c.due_at).where(deadline_markers.c.tip_id == tip_id))
    return {DeadlineMarker(r[0], r[1], r[2]) for r in rows}


async def due_for_scheduler(*, session: AsyncSession, now: datetime, limit: int) -> list[str]:
    rows = await session.execute(select(tips.c.tip_id).where(tips.c.next_wakeup_at.is_not(None),
                                                             tips.c.next_wakeup_at <= now)
                                 .order_by(tips.c.next_wakeup_at).limit(limit))
    return [r[0] for r in rows]


async def earliest_wakeup(*, session: AsyncSession) -> datetime | None:
    value: datetime | None = (await session.execute(select(func.min(tips.c.next_wakeup_at)))).scalar()
    return value


async def gauge_counts(*, session: AsyncSession, now: datetime) -> dict[str, dict[str, int]]:
    """Counts for the gauges: tips not yet closed by status, running deadlines overdue / approaching."""
    by_status = {r[0]: int(r[1]) for r in await session.execute(
        select(tips.c.status, func.count()).where(tips.c.status != "closed").group_by(tips.c.status))}
    overdue = {r[0]: int(r[1]) for r in await session.execute(
        select(tips.c.deadline_name, func.count()).where(tips.c.deadline_due_at.is_not(None),
                                                         tips.c.deadline_due_at <= now)
        .group_by(tips.c.deadline_name))}
    approaching = {r[0]: int(r[1]) for r in await session.execute(
        select(tips.c.deadline_name, func.count()).where(tips.c.deadline_due_at.is_not(None),
                                                         tips.c.deadline_due_at > now,
                                                         tips.c.deadline_approaching_at <= now)
        .group_by(tips.c.deadline_name))}
    return {"status": by_status, "overdue": overdue, "approaching": approaching}


# --- inbound -------------------------------------------------------------------------------------------------------
async def inbound_known(*, session: AsyncSession, refs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (agency, reference) pairs were processed before."""
    return await pairs_present(session, inbound_refs.c.agency, inbound_refs.c.reference, refs)


# --- report figures ------------------------------------------------------------------------------------------
def _area_at_level(area: str | None, under: str | None) -> str:
    """The area one level below `under` that `area` lies in: a province with no filter, a commune under a
    province; "unknown" when the tip's area is not known."""
    if not area:
        return "unknown"
    depth = 1 if under is None else under.count(".") + 2
    return ".".join(area.split(".")[:depth])


@dataclass(frozen=True)
class UnitSeen:
    """What one unit event says of a unit: its kind (UnitRegistered only), name and area (None: not said)."""

    kind: str | None = None
    name: str | None = None
    area_code: str | None = None


async def remember_units(*, session: AsyncSession, registered: dict[str, UnitSeen], updated: dict[str, UnitSeen],
                         now: datetime) -> None:
    """Keep the units' kinds, names and areas. A UnitRegistered inserts a new unit and fills in only what is still
    unknown (a redelivered one never undoes a later update); a UnitUpdated overwrites the name or area it
    carries, of a unit already known (one not known yet has no kind to count it by and is skipped)."""
    ids = sorted(set(registered) | set(updated))
    known: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        for row in (await session.execute(select(unit_kinds.c.unit_id, unit_kinds.c.name, unit_kinds.c.area_code)
                                          .where(unit_kinds.c.unit_id.in_(chunk)))).mappings():
            known[row["unit_id"]] = dict(row)
    new = [{"unit_id": u, "kind": seen.kind, "name": seen.name, "area_code": seen.area_code, "updated_at": now}
           for u, seen in sorted(registered.items()) if u not in known and seen.kind]
    if new:
        await insert_many(session, unit_kinds, new)
        known.update({str(row["unit_id"]): row for row in new})
    for unit_id in ids:
        if unit_id not in known:
            continue
        have = known[unit_id]
        values: dict[str, Any] = {}
        first, later = registered.get(unit_id), updated.get(unit_id)
        for column in ("name", "area_code"):
            if later is not None and getattr(later, column) is not None:
                values[column] = getattr(later, column)
            elif first is not None and have[column] is None and getattr(first, column) is not None:
                values[column] = getattr(first, column)
        if values and any(have[c] != v for c, v in values.items()):
            await session.execute(update(unit_kinds).where(unit_kinds.c.unit_id == unit_id)
                                  .values(**values, updated_at=now))


async def units_in_area(*, session: AsyncSession, area_code: str, limit: int) -> list[dict[str, Any]]:
    """The named units of one area (exactly that area, not those below it), by name: id, name and kind."""
    rows = (await session.execute(
        select(unit_kinds.c.unit_id, unit_kinds.c.name, unit_kinds.c.kind)
        .where(unit_kinds.c.area_code == area_code, unit_kinds.c.name.is_not(None))
        .order_by(unit_kinds.c.name, unit_kinds.c.unit_id).limit(limit))).mappings()
    return [dict(r) for r in rows]


async def unit_in_area(*, session: AsyncSession, unit_id: str, area_code: str) -> bool:
    """Whether this unit is known, by name, in exactly this area."""
    found = (await session.execute(select(unit_kinds.c.unit_id).where(
        unit_kinds.c.unit_id == unit_id, unit_kinds.c.area_code == area_code,
        unit_kinds.c.name.is_not(None)))).first()
    return found is not None


async def report_figures(*, session: AsyncSession, start: datetime, end: datetime, now: datetime,
                         scope: str | None = None, category: str | None = None,
                         unit_kind: str | None = None) -> dict[str, Any]:
    """The tips figures the police report for the tips received in [start, end): received (by category,
    channel, priority, area one level down, current status), anonymous, verified and valuable, outcomes, overdue
    now and deadlines missed. Counts only: nothing that could identify a reporter."""
    where: list[Any] = [tips.c.received_at >= start, tips.c.received_at < end]
    if scope is not None:
        where.append(area_clause(scope))
    if category is not None:
        where.append(tips.c.category == category)
    if unit_kind is not None:
        where.append(tips.c.unit_id.in_(select(unit_kinds.c.unit_id).where(unit_kinds.c.kind == unit_kind)))

    async def grouped(column: Any, *extra: Any) -> dict[str, int]:
        rows = await session.execute(select(column, func.count()).where(*where, *extra).group_by(column))
        return {str(key): int(n) for key, n in rows if key is not None}

    def one(value: Any) -> Any:
        return func.coalesce(func.sum(case((value, 1), else_=0)), 0)

    row = (await session.execute(select(
        func.count(), one(tips.c.anonymous), one(tips.c.valuable.is_not(None)), one(tips.c.valuable.is_(True)),
        one(tips.c.unit_id.is_not(None)),
        one(and_(tips.c.deadline_due_at.is_not(None), tips.c.deadline_due_at <= now)),
    ).where(*where))).one()
    received, anonymous, verified, valuable, with_unit, overdue_now = (int(v) for v in row)
    by_area: dict[str, int] = {}
    for area, n in (await session.execute(select(tips.c.scope_area, func.count()).where(*where)
                                          .group_by(tips.c.scope_area))).all():
        key = _area_at_level(area, scope)
        by_area[key] = by_area.get(key, 0) + int(n)
    m = deadline_markers.c
    missed = select(m.tip_id, m.deadline).where(m.kind == "overdue").distinct().subquery()
    missed_rows = (await session.execute(
        select(missed.c.deadline, func.count(func.distinct(missed.c.tip_id)))
        .select_from(missed.join(tips, tips.c.tip_id == missed.c.tip_id)).where(*where)
        .group_by(missed.c.deadline))).all()
    missed_any = int((await session.execute(
        select(func.count(func.distinct(missed.c.tip_id)))
        .select_from(missed.join(tips, tips.c.tip_id == missed.c.tip_id)).where(*where))).scalar_one())
    kind = func.coalesce(unit_kinds.c.kind, "unknown")
    by_unit_kind = {str(k): int(n) for k, n in (await session.execute(
        select(kind, func.count()).select_from(tips.outerjoin(unit_kinds, unit_kinds.c.unit_id == tips.c.unit_id))
        .where(*where, tips.c.unit_id.is_not(None)).group_by(kind))).all()}
    return {
        "received": received, "anonymous": anonymous, "with_unit": with_unit, "by_unit_kind": by_unit_kind,
        "by_category": await grouped(tips.c.category), "by_channel": await grouped(tips.c.channel),
        "by_priority": await grouped(tips.c.priority), "by_area": by_area,
        "by_status": await grouped(tips.c.status),
        "verified": verified, "valuable": valuable,
        "valuable_rate": round(valuable / verified, 4) if verified else None,
        "valuable_by_category": await grouped(tips.c.category, tips.c.valuable.is_(True)),
        "by_outcome": await grouped(tips.c.outcome),
        "overdue_now": overdue_now, "missed_deadline": missed_any,
        "missed_by_deadline": {str(d): int(n) for d, n in missed_rows},
    }


# --- writes of the handlers, tasks and commands ---------------------------------------------------------------
async def insert_attachments(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_many(session, attachments, rows)


async def insert_duplicate_links(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_many(session, duplicate_links, rows)


async def confirm_duplicate_link(*, session: AsyncSession, tip_id: str, other_id: str, by: str,
                                 at: datetime) -> None:
    await session.execute(update(duplicate_links).where(
        duplicate_links.c.tip_id == tip_id, duplicate_links.c.other_id == other_id)
        .values(status="confirmed", confirmed_by=by, confirmed_at=at))


async def insert_inbound_refs(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await insert_many(session, inbound_refs, rows)


async def insert_message(*, session: AsyncSession, message_id: str, tip_id: str, author: str, internal: bool,
                         author_sub: str | None, text: str, created_at: datetime) -> None:
    await session.execute(insert(messages).values(
        message_id=message_id, tip_id=tip_id, author=author, internal=internal, author_sub=author_sub, text=text,
        created_at=created_at))


class MarkerAlreadyEmitted(Conflict):
    """Another transaction (a second scheduler instance) wrote the same deadline marker first."""

    def __init__(self) -> None:
        super().__init__("the deadline marker was emitted concurrently", code="deadline_marker_emitted")


async def insert_deadline_marker(*, session: AsyncSession, tip_id: str, marker: DeadlineMarker,
                                 emitted_at: datetime) -> None:
    """The marker row of an emitted deadline event; its unique key makes a second emission impossible
    (`MarkerAlreadyEmitted`: the transaction is spoilt, the caller rolls it back)."""
    try:
        await session.execute(insert(deadline_markers).values(
            tip_id=tip_id, marker=marker.key(), deadline=marker.deadline, kind=marker.kind, due_at=marker.due_at,
            emitted_at=emitted_at))
    except IntegrityError:
        raise MarkerAlreadyEmitted() from None


async def sealed_identities(*, session: AsyncSession) -> list[tuple[str, str]]:
    """Every (tip id, encrypted identity) pair, for a key rotation."""
    rows = await session.execute(select(tips.c.tip_id, tips.c.identity_enc).where(tips.c.identity_enc.is_not(None)))
    return [(str(tip_id), str(token)) for tip_id, token in rows]


async def set_identity(*, session: AsyncSession, tip_id: str, identity_enc: str) -> None:
    await session.execute(update(tips).where(tips.c.tip_id == tip_id).values(identity_enc=identity_enc))
