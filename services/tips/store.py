"""The tips service's tables and data-access functions (its own database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Index, LargeBinary, MetaData, String, Table, Text, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime

metadata = MetaData()

tips = Table(
    "tips",
    metadata,
    Column("tip_id", String(64), primary_key=True),
    Column("category", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("area_code", String(64), nullable=True),
    Column("unit_id", String(64), nullable=True),
    Column("anonymous", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("location", Text, nullable=True),
    Column("occurred_at", UTCDateTime, nullable=True),
    # Reporter identity, encrypted; never copied anywhere else.
    Column("reporter_enc", LargeBinary, nullable=True),
    Column("receipt_lookup", String(32), nullable=False, unique=True),
    Column("receipt_hash", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_tips_status_area", "status", "area_code"),
)

inbound_refs = Table(
    "inbound_refs",
    metadata,
    Column("agency", String(64), primary_key=True),
    Column("reference", String(200), primary_key=True),
    Column("tip_id", String(64), nullable=False),
    UniqueConstraint("agency", "reference", name="uq_inbound_refs"),
)


async def get_tip(*, session: AsyncSession, tip_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(tips).where(tips.c.tip_id == tip_id))).mappings().first()
    return dict(row) if row else None


async def find_inbound(*, session: AsyncSession, agency: str, reference: str) -> str | None:
    row = (await session.execute(select(inbound_refs.c.tip_id).where(
        inbound_refs.c.agency == agency, inbound_refs.c.reference == reference))).first()
    return row[0] if row else None
