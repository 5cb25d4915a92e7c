"""The spine's table of processed events is renamed from `inbox` to `processed_events` (and its primary key).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from shared.spine_migration import rename_processed_table

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rename_processed_table("inbox", "processed_events")


def downgrade() -> None:
    rename_processed_table("processed_events", "inbox")
