"""The units service's tables and data-access functions (its own database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime

metadata = MetaData()

units = Table(
    "units",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("area_code", String(64), nullable=False),
    Column("address", Text, nullable=True),
    Column("external_key", String(200), nullable=True, unique=True),
    Column("in_scope", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_units_area_kind", "area_code", "kind"),
)


async def get_unit(*, session: AsyncSession, unit_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(units).where(units.c.unit_id == unit_id))).mappings().first()
    return dict(row) if row else None


async def get_unit_by_external_key(*, session: AsyncSession, external_key: str) -> dict[str, Any] | None:
    row = (await session.execute(select(units).where(units.c.external_key == external_key))).mappings().first()
    return dict(row) if row else None
