"""An index for the officer queue ordered by the nearest running deadline (`GET /tips?sort=deadline`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tips_deadline", "tips", ["deadline_due_at", "tip_id"])


def downgrade() -> None:
    op.drop_index("ix_tips_deadline", table_name="tips")
