"""Initial units schema: the unit registry and the spine tables.

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
        "units",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("external_key", sa.String(200), nullable=True, unique=True),
        sa.Column("in_scope", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_units_area_kind", "units", ["area_code", "kind"])


def downgrade() -> None:
    op.drop_index("ix_units_area_kind", "units")
    op.drop_table("units")
    drop_spine_tables()
