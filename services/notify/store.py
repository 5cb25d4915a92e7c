"""The notify service's tables and data-access functions (its own database)."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Text

from shared.db import UTCDateTime

metadata = MetaData()

notifications = Table(
    "notifications",
    metadata,
    # uuid5(cause event id, recipient, channel): one notification per cause, recipient and channel.
    Column("notification_id", String(64), primary_key=True),
    Column("cause_event_id", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("area_code", String(64), nullable=True),
    Column("unit_id", String(64), nullable=True),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read_at", UTCDateTime, nullable=True),
    Index("ix_notifications_recipient_created", "recipient", "created_at"),
    Index("ix_notifications_area", "area_code"),
)
