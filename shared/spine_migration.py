"""The spine tables' DDL for a service's first migration (every service database has an outbox and an inbox)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.db import BigId, UTCDateTime


def create_spine_tables() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_outbox_state_seq", "outbox", ["state", "seq"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )


def drop_spine_tables() -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_state_seq", "outbox")
    op.drop_table("outbox")
