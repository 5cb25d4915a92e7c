"""The spine tables' DDL for a service's migrations (every service database has an outbox and processed_events).

The table of processed events was first called `inbox`; each bus service's first migration still creates it
under that name (`processed_table="inbox"`) and a later one renames it (`rename_processed_table`), so the history
stays what was applied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.db import BigId, UTCDateTime


def create_spine_tables(processed_table: str = "processed_events") -> None:
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
        processed_table,
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )


def drop_spine_tables(processed_table: str = "processed_events") -> None:
    op.drop_table(processed_table)
    op.drop_index("ix_outbox_state_seq", "outbox")
    op.drop_table("outbox")


def rename_processed_table(old: str, new: str) -> None:
    """Rename the table of processed events, and on PostgreSQL its primary key (named after the table when it was
    created, `<table>_pkey`), so the database reads as if it had been created under the new name."""
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'ALTER INDEX "{old}_pkey" RENAME TO "{new}_pkey"')
