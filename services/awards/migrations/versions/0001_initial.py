"""Initial awards schema: certification facts and the spine tables.

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
        "unit_certifications",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rating", sa.String(16), nullable=True),
        sa.Column("decision_no", sa.String(200), nullable=True),
        sa.Column("consecutive_years", sa.Integer, nullable=True),
        sa.Column("certified_event_id", sa.String(200), nullable=True),
        sa.Column("revoked_event_id", sa.String(200), nullable=True),
        sa.Column("revoked_reason", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("unit_certifications")
    drop_spine_tables()
