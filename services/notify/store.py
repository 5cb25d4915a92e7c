"""The notify service's tables and data-access functions (its own database)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
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
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime, chunks

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
