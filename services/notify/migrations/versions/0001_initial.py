"""Initial notify schema: notifications and the spine tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime
from shared.spine_migration import create_spine_tables, drop_spine_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_spine_tables()
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.String(64), primary_key=True),
        sa.Column("cause_event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("read_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_notifications_recipient_created", "notifications", ["recipient", "created_at"])
    op.create_index("ix_notifications_area", "notifications", ["area_code"])


def downgrade() -> None:
    op.drop_index("ix_notifications_area", "notifications")
    op.drop_index("ix_notifications_recipient_created", "notifications")
    op.drop_table("notifications")
    drop_spine_tables()
