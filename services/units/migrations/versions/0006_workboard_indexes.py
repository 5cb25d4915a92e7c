"""The workboard's indexes: a province's or a commune's units in name order, with the filter columns.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_units_province_name", "units",
                    ["province_code", "name", "unit_id", "in_scope", "status", "kind"])
    op.create_index("ix_units_commune_name", "units",
                    ["province_code", "commune_code", "name", "unit_id", "in_scope", "status", "kind"])


def downgrade() -> None:
    op.drop_index("ix_units_commune_name", "units")
    op.drop_index("ix_units_province_name", "units")
