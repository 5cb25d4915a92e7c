"""The name and area of each unit, learnt from UnitRegistered and UnitUpdated, for the public form's unit list.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("unit_kinds") as batch:
        batch.add_column(sa.Column("name", sa.String(500), nullable=True))
        batch.add_column(sa.Column("area_code", sa.String(200), nullable=True))
    op.create_index("ix_unit_kinds_area", "unit_kinds", ["area_code", "name"])


def downgrade() -> None:
    op.drop_index("ix_unit_kinds_area", table_name="unit_kinds")
    with op.batch_alter_table("unit_kinds") as batch:
        batch.drop_column("area_code")
        batch.drop_column("name")
