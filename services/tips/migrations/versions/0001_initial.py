"""Initial tips schema: tips, inbound references and the spine tables.

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
        "tips",
        sa.Column("tip_id", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=True),
        sa.Column("occurred_at", UTCDateTime, nullable=True),
        sa.Column("reporter_enc", sa.LargeBinary, nullable=True),
        sa.Column("receipt_lookup", sa.String(32), nullable=False, unique=True),
        sa.Column("receipt_hash", sa.String(200), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tips_status_area", "tips", ["status", "area_code"])
    op.create_table(
        "inbound_refs",
        sa.Column("agency", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(200), primary_key=True),
        sa.Column("tip_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("agency", "reference", name="uq_inbound_refs"),
    )


def downgrade() -> None:
    op.drop_table("inbound_refs")
    op.drop_index("ix_tips_status_area", "tips")
    op.drop_table("tips")
    drop_spine_tables()
