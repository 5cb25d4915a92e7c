"""The notify service's tables and data-access functions (its own database)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from services.notify.domain.channels import INBOX
from shared.areas import area_within
from shared.db import UTCDateTime, chunks, insert_many, write_rows

metadata = MetaData()

# The events that caused deliveries, as the catalogue knows them (unknown fields dropped): what the delivery
# worker renders from later. Never holds a reporter's identity: the catalogue has none.
cause_events = Table(
    "cause_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("event_type", String(200), nullable=False),
    Column("source", String(200), nullable=False),
    Column("subject", String(200), nullable=True),
    Column("time", UTCDateTime, nullable=False),
    Column("data", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# One row per (cause event, recipient, channel): the primary key is the deterministic notification id, so a
# redelivered event can never create a second delivery.
# status: pending (due at next_attempt_at) | digest (parked for the recipient's daily digest) |
#         digested (handed to a digest; its fate is the digest's) | delivered | failed
deliveries = Table(
    "deliveries",
    metadata,
    Column("notification_id", String(64), primary_key=True),
    Column("cause_event_id", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("event_time", UTCDateTime, nullable=False),
    Column("recipient_id", String(300), nullable=False),
    Column("recipient_kind", String(20), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=True),
    Column("subscription_id", String(64), nullable=True),
    Column("reason", String(200), nullable=False),
    Column("language", String(4), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("area_code", String(64), nullable=True),
    Column("unit_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("provider", String(100), nullable=True),
    Column("digest_id", String(64), nullable=True),
    Column("title", Text, nullable=True),
    Column("body", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("failed_at", UTCDateTime, nullable=True),
    Index("ix_deliveries_due", "channel", "status", "next_attempt_at"),
    Index("ix_deliveries_recipient", "recipient_id", "created_at"),
    Index("ix_deliveries_status_created", "status", "created_at"),
    Index("ix_deliveries_digest", "digest_id"),
    # An inbox page walks this newest first and stops at the page (migration 0003).
    Index("ix_deliveries_inbox", "channel", "created_at", "notification_id"),
    # A commune officer's page: the area's notifications found directly, then sorted (migration 0004).
    Index("ix_deliveries_area", "area_code", "created_at", postgresql_ops={"area_code": "varchar_pattern_ops"}),
)

# Read state per reader: an area's inbox is shared by its officers, and each of them reads it on their own.
inbox_reads = Table(
    "inbox_reads",
    metadata,
    Column("notification_id", String(64), primary_key=True),
    Column("reader", String(300), primary_key=True),
    Column("read_at", UTCDateTime, nullable=False),
)

# Who can be addressed: officers and admins (from their tokens when they call the API), units (their
# contacts), external systems; contact details and preferences are what they set with PUT /preferences.
recipients = Table(
    "recipients",
    metadata,
    Column("recipient_id", String(300), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("role", String(16), nullable=True),
    Column("area_code", String(64), nullable=True),
    Column("unit_id", String(64), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("preferences", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_recipients_kind", "kind"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("owner", String(300), nullable=False),
    Column("event_types", Text, nullable=False),
    Column("area_code", String(64), nullable=True),
    Column("unit_id", String(64), nullable=True),
    Column("min_priority", String(16), nullable=True),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=True),
    # The webhook signing secret: shown once at creation, kept to sign, never returned again; stored sealed
    # (AES-256-GCM, services/notify/keys.py) with a key kept outside the database.
    Column("secret", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_subscriptions_owner", "owner"),
)

# Notify's own directory: events that carry only ids are placed by what earlier events said, and named in
# notices by it (a unit's name, a tip's category, an award's type): the read model of names (docs/notify.md).
tip_directory = Table(
    "tip_directory",
    metadata,
    Column("tip_id", String(64), primary_key=True),
    Column("area_code", String(64), nullable=True),
    Column("priority", String(16), nullable=True),
    Column("category", String(100), nullable=True),
    Column("received_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

unit_directory = Table(
    "unit_directory",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("area_code", String(64), nullable=True),
    Column("name", String(500), nullable=True),
    Column("kind", String(32), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

award_directory = Table(
    "award_directory",
    metadata,
    Column("award_id", String(64), primary_key=True),
    Column("recipient_kind", String(16), nullable=False),
    Column("recipient_ref", String(200), nullable=False),
    Column("level", String(64), nullable=True),
    Column("award_type", String(100), nullable=True),
    Column("year", Integer, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per (recipient, channel, local day): the unique digest id makes a digest go out once, even across
# restarts; its items are the deliveries whose digest_id points here.
digests = Table(
    "digests",
    metadata,
    Column("digest_id", String(64), primary_key=True),
    Column("recipient_id", String(300), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("day", String(10), nullable=False),
    Column("target", Text, nullable=True),
    Column("language", String(4), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("provider", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_digests_due", "channel", "status", "next_attempt_at"),
)


# --- directory ------------------------------------------------------------------------------------------------
async def upsert(session: AsyncSession, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Insert or update one row by its primary key (portable across SQLite and PostgreSQL)."""
    where = [table.c[k] == v for k, v in key.items()]
    result = await session.execute(update(table).where(*where).values(**values))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await session.execute(insert(table).values(**key, **values))


async def get_unit(*, session: AsyncSession, unit_id: str) -> RowMapping | None:
    """The unit as notify's directory knows it from the units events; None when no event named it."""
    return (await session.execute(select(unit_directory).where(unit_directory.c.unit_id == unit_id))).mappings().first()


async def directory_rows(*, session: AsyncSession, table: Table, key: str,
                         ids: Iterable[str]) -> dict[str, RowMapping]:
    """Entries of one directory table (units, tips or awards) by id: those it has."""
    out: dict[str, RowMapping] = {}
    for chunk in chunks(sorted(set(ids))):
        for row in (await session.execute(select(table).where(table.c[key].in_(chunk)))).mappings():
            out[row[key]] = row
    return out


# --- recipients and subscriptions -----------------------------------------------------------------------------
async def get_recipient(*, session: AsyncSession, recipient_id: str) -> RowMapping | None:
    return (await session.execute(select(recipients).where(
        recipients.c.recipient_id == recipient_id))).mappings().first()


async def recipients_by_id(*, session: AsyncSession, ids: Iterable[str]) -> dict[str, RowMapping]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(recipients).where(recipients.c.recipient_id.in_(wanted)))).mappings()
    return {r["recipient_id"]: r for r in rows}


async def officers(*, session: AsyncSession) -> Sequence[RowMapping]:
    return (await session.execute(select(recipients).where(recipients.c.kind == "officer"))).mappings().all()


async def all_subscriptions(*, session: AsyncSession) -> Sequence[RowMapping]:
    return (await session.execute(select(subscriptions).order_by(subscriptions.c.created_at))).mappings().all()


async def get_subscription(*, session: AsyncSession, subscription_id: str) -> RowMapping | None:
    return (await session.execute(select(subscriptions).where(
        subscriptions.c.subscription_id == subscription_id))).mappings().first()


async def stored_secrets(*, session: AsyncSession) -> list[tuple[str, str]]:
    """(subscription id, stored secret) of every subscription with a secret."""
    s = subscriptions.c
    rows = await session.execute(select(s.subscription_id, s.secret).where(s.secret.is_not(None)))
    return [(str(sid), str(secret)) for sid, secret in rows]


async def replace_secret(*, session: AsyncSession, subscription_id: str, old: str, new: str) -> None:
    """Store `new` in place of `old` (unless another process changed it first: then theirs stands)."""
    s = subscriptions.c
    await session.execute(update(subscriptions).where(s.subscription_id == subscription_id, s.secret == old)
                          .values(secret=new))


# --- deliveries -----------------------------------------------------------------------------------------------
async def existing_notification_ids(*, session: AsyncSession, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    rows = await session.execute(select(deliveries.c.notification_id).where(deliveries.c.notification_id.in_(ids)))
    return {r[0] for r in rows}


async def get_cause_event(*, session: AsyncSession, event_id: str) -> dict[str, Any] | None:
    """The stored envelope of a cause event, in CloudEvents shape."""
    row = (await session.execute(select(cause_events).where(cause_events.c.event_id == event_id))).mappings().first()
    return None if row is None else _envelope(row)


async def cause_events_by_id(*, session: AsyncSession, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored envelopes of these cause events, by event id (those stored)."""
    wanted = sorted(set(event_ids))
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(wanted):
        rows = await session.execute(select(cause_events).where(cause_events.c.event_id.in_(chunk)))
        for row in rows.mappings():
            out[row["event_id"]] = _envelope(row)
    return out


def _envelope(row: Mapping[Any, Any]) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0", "id": row["event_id"], "source": row["source"], "type": row["event_type"],
        "time": row["time"].isoformat().replace("+00:00", "Z"), "datacontenttype": "application/json",
        "data": json.loads(row["data"]),
    }
    if row["subject"]:
        envelope["subject"] = row["subject"]
    return envelope


def as_utc(value: datetime | str) -> datetime:
    """An aggregate (min/max) of a UTC column: SQLite returns its stored text, PostgreSQL a datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- notify's directory, as a batch of events reads and writes it ---------------------------------------------
DIRECTORY: dict[str, tuple[Table, str]] = {"tip": (tip_directory, "tip_id"), "unit": (unit_directory, "unit_id"),
                                           "award": (award_directory, "award_id")}


def directory_columns(kind: str) -> tuple[str, str]:
    """The column names of one directory table (`tip`, `unit`, `award`), its key first."""
    table, key = DIRECTORY[kind]
    return (key, *(c.name for c in table.columns if c.name != key))  # type: ignore[return-value]


async def directory_entries(*, session: AsyncSession, kind: str, ids: Iterable[str]) -> dict[str, RowMapping]:
    table, key = DIRECTORY[kind]
    return await directory_rows(session=session, table=table, key=key, ids=ids)


async def save_directory(*, session: AsyncSession, kind: str, new: Sequence[dict[str, Any]],
                         changed: Sequence[dict[str, Any]]) -> None:
    """Insert the `new` entries of one directory table and update the `changed` ones."""
    table, key = DIRECTORY[kind]
    await write_rows(session, table, [key], new=new, changed=changed)


# --- intake ---------------------------------------------------------------------------------------------------
async def stored_cause_ids(*, session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
    """Which of these cause events are stored already."""
    c = cause_events.c
    stored: set[str] = set()
    for chunk in chunks(event_ids):
        stored |= set((await session.execute(select(c.event_id).where(c.event_id.in_(chunk)))).scalars())
    return stored


async def insert_cause_events(*, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await insert_many(session, cause_events, rows)


async def insert_deliveries(*, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await insert_many(session, deliveries, rows)


# --- the inbox ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InboxScope:
    """Whose inbox rows a reader sees, in the table's terms (handlers.inbox_scope builds it from the token)."""

    reader: str  # the reader's own recipient id
    desk_prefix: str | None = None  # desks read (officers: `desk:`; leaders: `leaders:<level>:`); None: own only
    area: str | None = None  # the desks' areas are this area or under it; None: every area
    intake_desk: str | None = None  # also this desk (officers who work the intake desk)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _inbox_where(scope: InboxScope) -> ColumnElement[bool]:
    d = deliveries.c
    own = d.recipient_id == scope.reader
    if scope.desk_prefix is None:
        return and_(d.channel == INBOX, own)
    desks: ColumnElement[bool] = d.recipient_id.like(_like_prefix(scope.desk_prefix), escape="\\")
    if scope.area is not None:
        covered = area_within(d.area_code, scope.area)
        if scope.intake_desk is not None:
            covered = or_(covered, d.recipient_id == scope.intake_desk)
        desks = and_(desks, covered)
    return and_(d.channel == INBOX, or_(own, desks))


def _newest_first(query: Select[Any], created: Any, key: Any, after: tuple[Any, ...] | None,
                  limit: int) -> Select[Any]:
    if after is not None:
        query = query.where(or_(created < after[0], and_(created == after[0], key < after[1])))
    return query.order_by(created.desc(), key.desc()).limit(limit + 1)


# What an inbox item shows and what its text is rendered from (not the delivery's worker columns).
INBOX_COLUMNS = ("notification_id", "cause_event_id", "event_type", "language", "critical", "area_code", "unit_id",
                 "title", "body", "created_at")


def inbox_query(scope: InboxScope, unread: bool | None, after: tuple[Any, ...] | None,
                limit: int) -> Select[Any]:
    """The statement of an inbox page (see inbox_page).

    The reader's read time is a subquery per row of the page and `unread` an (anti-)semi-join, not an outer
    join filtered on `read_at IS NULL`: PostgreSQL estimates that filter at half a percent of the rows, so the
    page looked like a fifth of the index to walk and was planned as a parallel scan whose workers take longer
    to start (18 ms) than the backward walk takes to finish (0.7 ms); an anti-join is estimated from the reads
    themselves (docs/benchmarks.md, National)."""
    d, r = deliveries.c, inbox_reads.c
    read = and_(r.notification_id == d.notification_id, r.reader == scope.reader)
    read_at = select(r.read_at).where(read).scalar_subquery().label("read_at")
    query = select(*(d[name] for name in INBOX_COLUMNS), read_at).where(_inbox_where(scope))
    if unread is not None:
        was_read = select(r.notification_id).where(read).exists()
        query = query.where(~was_read if unread else was_read)
    return _newest_first(query, d.created_at, d.notification_id, after, limit)


async def inbox_page(*, session: AsyncSession, scope: InboxScope, unread: bool | None,
                     after: tuple[Any, ...] | None, limit: int) -> Sequence[RowMapping]:
    """A page of the reader's inbox, newest first, with their read time (`limit + 1` rows at most)."""
    return (await session.execute(inbox_query(scope, unread, after, limit))).mappings().all()


async def in_inbox(*, session: AsyncSession, scope: InboxScope, notification_id: str) -> bool:
    d = deliveries.c
    found = (await session.execute(select(d.notification_id).where(
        d.notification_id == notification_id, _inbox_where(scope)))).first()
    return found is not None


async def mark_read(*, session: AsyncSession, notification_id: str, reader: str, now: datetime) -> None:
    """Note that `reader` read the notification; reading twice keeps the first read time."""
    r = inbox_reads.c
    already = (await session.execute(select(r.read_at).where(
        r.notification_id == notification_id, r.reader == reader))).first()
    if already is None:
        await session.execute(insert(inbox_reads).values(notification_id=notification_id, reader=reader,
                                                         read_at=now))


# --- subscriptions --------------------------------------------------------------------------------------------
async def subscriptions_page(*, session: AsyncSession, owner: str | None, after: tuple[Any, ...] | None,
                             limit: int) -> Sequence[RowMapping]:
    """A page of the subscriptions of `owner` (None: everybody's), newest first (`limit + 1` rows at most)."""
    s = subscriptions.c
    query = select(subscriptions)
    if owner is not None:
        query = query.where(s.owner == owner)
    query = _newest_first(query, s.created_at, s.subscription_id, after, limit)
    return (await session.execute(query)).mappings().all()


async def insert_subscription(*, session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(insert(subscriptions).values(**values))


async def matching_subscriptions(*, session: AsyncSession, subscription_id: str | None, owner: str | None,
                                 fields: Mapping[str, str | None]) -> Sequence[RowMapping]:
    """The subscriptions with this id (when given) of this owner (None: anybody's) whose columns in `fields`
    are equal to the values given (None: the column is empty), oldest first."""
    s = subscriptions.c
    query = select(subscriptions)
    if subscription_id is not None:
        query = query.where(s.subscription_id == subscription_id)
    if owner is not None:
        query = query.where(s.owner == owner)
    for name, value in fields.items():
        query = query.where(s[name].is_(None) if value is None else s[name] == value)
    return (await session.execute(query.order_by(s.created_at, s.subscription_id))).mappings().all()


async def delete_subscriptions(*, session: AsyncSession, ids: Sequence[str]) -> None:
    for chunk in chunks(ids):
        await session.execute(subscriptions.delete().where(subscriptions.c.subscription_id.in_(chunk)))


# --- the delivery log -----------------------------------------------------------------------------------------
async def deliveries_page(*, session: AsyncSession, status: str | None, channel: str | None,
                          after: tuple[Any, ...] | None, limit: int) -> Sequence[RowMapping]:
    """A page of the delivery log, newest first (`limit + 1` rows at most)."""
    d = deliveries.c
    query = select(deliveries)
    if status is not None:
        query = query.where(d.status == status)
    if channel is not None:
        query = query.where(d.channel == channel)
    query = _newest_first(query, d.created_at, d.notification_id, after, limit)
    return (await session.execute(query)).mappings().all()


async def insert_delivery(*, session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(insert(deliveries).values(**values))


async def get_delivery(*, session: AsyncSession, notification_id: str) -> RowMapping:
    return (await session.execute(select(deliveries).where(
        deliveries.c.notification_id == notification_id))).mappings().one()


# --- the delivery worker: claiming and settling ---------------------------------------------------------------
# What the worker sends: single deliveries and digests, each keyed by its id.
SENDABLE: dict[str, tuple[Table, str]] = {"delivery": (deliveries, "notification_id"),
                                          "digest": (digests, "digest_id")}
QUEUED = ("pending", "digest", "digested")


async def due(*, session: AsyncSession, kind: str, channel: str, now: datetime,
              limit: int) -> list[tuple[str, int]]:
    """(id, attempts) of the pending deliveries or digests of a channel whose time has come, earliest first."""
    table, key = SENDABLE[kind]
    c = table.c
    rows = await session.execute(select(c[key], c.attempts).where(
        c.channel == channel, c.status == "pending", c.next_attempt_at <= now)
        .order_by(c.next_attempt_at).limit(limit))
    return [(str(ident), int(attempts)) for ident, attempts in rows.all()]


async def claim(*, session: AsyncSession, kind: str, ident: str, attempts: int, now: datetime,
                until: datetime) -> bool:
    """Reserve a due item until `until`; False when another worker changed it first."""
    table, key = SENDABLE[kind]
    c = table.c
    result = await session.execute(update(table).where(
        c[key] == ident, c.status == "pending", c.attempts == attempts, c.next_attempt_at <= now)
        .values(next_attempt_at=until))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _settle(session: AsyncSession, kind: str, ident: str, attempts_before: int, **values: Any) -> bool:
    table, key = SENDABLE[kind]
    c = table.c
    changed = await session.execute(update(table).where(
        c[key] == ident, c.status == "pending", c.attempts == attempts_before).values(**values))
    return bool(changed.rowcount)  # type: ignore[attr-defined]


async def settle_delivered(*, session: AsyncSession, kind: str, ident: str, attempts_before: int, now: datetime,
                           provider: str) -> bool:
    """Mark an item (a digest with its deliveries) delivered; False when it was no longer this attempt's."""
    attempts = attempts_before + 1
    if not await _settle(session, kind, ident, attempts_before, status="delivered", attempts=attempts,
                         delivered_at=now, provider=provider, last_error=None, next_attempt_at=None):
        return False
    if kind == "digest":
        await session.execute(update(deliveries).where(deliveries.c.digest_id == ident).values(
            status="delivered", attempts=attempts, delivered_at=now, provider=provider))
    return True


async def settle_retry(*, session: AsyncSession, kind: str, ident: str, attempts_before: int, at: datetime | None,
                       reason: str) -> bool:
    return await _settle(session, kind, ident, attempts_before, attempts=attempts_before + 1, next_attempt_at=at,
                         last_error=reason)


async def settle_failed(*, session: AsyncSession, kind: str, ident: str, attempts_before: int, now: datetime,
                        reason: str) -> bool:
    """Mark an item (a digest with its deliveries) failed; False when it was no longer this attempt's."""
    attempts = attempts_before + 1
    if not await _settle(session, kind, ident, attempts_before, status="failed", attempts=attempts,
                         next_attempt_at=None, last_error=reason,
                         **({"failed_at": now} if kind == "delivery" else {})):
        return False
    if kind == "digest":
        await session.execute(update(deliveries).where(deliveries.c.digest_id == ident).values(
            status="failed", attempts=attempts, failed_at=now, last_error=reason))
    return True


# --- digests --------------------------------------------------------------------------------------------------
async def parked(*, session: AsyncSession, now: datetime) -> Sequence[RowMapping]:
    """The deliveries parked for a digest, when the earliest one's digest is due (else none)."""
    d = deliveries.c
    # Parked rows carry the send time of their digest: nothing to do before the earliest one.
    earliest = (await session.execute(select(func.min(d.next_attempt_at)).where(d.status == "digest"))).scalar()
    if earliest is None or as_utc(earliest) > now:
        return []
    return (await session.execute(select(deliveries).where(d.status == "digest"))).mappings().all()


async def existing_digest_ids(*, session: AsyncSession, ids: Sequence[str]) -> set[str]:
    return {r[0] for r in await session.execute(select(digests.c.digest_id).where(digests.c.digest_id.in_(ids)))}


async def send_parked_alone(*, session: AsyncSession, ids: Sequence[str], now: datetime) -> None:
    """Parked deliveries whose digest already went out go on their own, now."""
    d = deliveries.c
    await session.execute(update(deliveries).where(d.notification_id.in_(ids), d.status == "digest")
                          .values(status="pending", next_attempt_at=now))


async def create_digest(*, session: AsyncSession, values: Mapping[str, Any], ids: Sequence[str]) -> bool:
    """A new digest with these parked deliveries as its items; False when another worker made it first."""
    try:
        async with session.begin_nested():
            await session.execute(insert(digests).values(**values))
    except IntegrityError:
        return False
    d = deliveries.c
    await session.execute(update(deliveries).where(d.notification_id.in_(ids), d.status == "digest").values(
        status="digested", digest_id=values["digest_id"], next_attempt_at=None))
    return True


async def get_digest(*, session: AsyncSession, digest_id: str) -> tuple[RowMapping, Sequence[RowMapping]]:
    """A digest and its items, oldest first."""
    d = deliveries.c
    row = (await session.execute(select(digests).where(digests.c.digest_id == digest_id))).mappings().one()
    items = (await session.execute(select(deliveries).where(d.digest_id == digest_id).order_by(
        d.created_at, d.notification_id))).mappings().all()
    return row, items


async def queue_depth(*, session: AsyncSession) -> dict[str, int]:
    """Deliveries waiting to go out, by channel."""
    d = deliveries.c
    rows = await session.execute(select(d.channel, func.count()).where(d.status.in_(QUEUED)).group_by(d.channel))
    return {str(channel): int(count) for channel, count in rows.all()}
