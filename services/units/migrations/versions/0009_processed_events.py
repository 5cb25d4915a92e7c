"""The spine's table of processed events is renamed from `inbox` to `processed_events` (and its primary key).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from shared.spine_migration import rename_processed_table

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rename_processed_table("inbox", "processed_events")


def downgrade() -> None:
    rename_processed_table("processed_events", "inbox")
