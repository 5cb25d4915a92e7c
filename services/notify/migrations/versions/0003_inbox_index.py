"""The inbox index: an inbox page walks the inbox notifications newest first and stops at a page, instead of
sorting every notification of the caller's areas (`docs/benchmarks.md`, national on PostgreSQL).

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
    op.create_index("ix_deliveries_inbox", "deliveries", ["channel", "created_at", "notification_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_inbox", table_name="deliveries")
