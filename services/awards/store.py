"""The awards service's tables and data-access functions (its own database)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from shared.db import UTCDateTime

metadata = MetaData()

# Facts learnt from the units service's events: the basis on which collective awards are proposed.
unit_certifications = Table(
    "unit_certifications",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # certified | revoked
    Column("rating", String(16), nullable=True),
    Column("decision_no", String(200), nullable=True),
    Column("consecutive_years", Integer, nullable=True),
    Column("certified_event_id", String(200), nullable=True),
    Column("revoked_event_id", String(200), nullable=True),
    Column("revoked_reason", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
