"""The inbox of a commune's officer (`docs/benchmarks.md`, national on PostgreSQL).

An inbox page walks `ix_deliveries_inbox` newest first and stops at the page: cheap for a province's officer
(one notification in twenty is theirs), but a commune's officer reads one in 3,321, so the walk filtered 144,960
notifications (888 ms at 5,000,000). `ix_deliveries_area` finds an area's notifications directly (equality on
the commune, a prefix for what lies under it; `varchar_pattern_ops` so the prefix is a range whatever the
database's collation), and the planner sorts that small set instead, choosing per query.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_area", "deliveries", ["area_code", "created_at"],
                    postgresql_ops={"area_code": "varchar_pattern_ops"})


def downgrade() -> None:
    op.drop_index("ix_deliveries_area", table_name="deliveries")
