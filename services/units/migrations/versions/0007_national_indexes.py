"""Indexes for a national registry (`docs/benchmarks.md`, national on PostgreSQL):

- `ix_units_stats` and `ix_cycles_stats` hold every column `/stats` counts, so that its counts are index-only
  scans of a few MiB instead of reading every unit's and cycle's JSON (the whole table) for each figure;
- (a province officer's registry page walks `ix_units_province_name`, which migration 0006 made for the
  workboard);
- on PostgreSQL a trigram index on the folded search text, so that `GET /units?q=` finds words anywhere in a
  million units without reading them all. SQLite (one province) reads the table for search as before.

The pg_trgm extension ships with PostgreSQL and is trusted (a database owner may create it). Where it cannot be
created, search still works, by reading the table, and the migration says so.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)


def upgrade() -> None:
    op.create_index("ix_units_stats", "units",
                    ["province_code", "commune_code", "kind", "status", "in_scope", "out_of_scope_rule"])
    op.create_index("ix_cycles_stats", "cycles", ["year", "state", "late", "rating", "unit_id"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        log.warning("pg_trgm cannot be created here: registry search reads the whole table")
        return
    op.create_index("ix_units_search_trgm", "units", ["search"], postgresql_using="gin",
                    postgresql_ops={"search": "gin_trgm_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_units_search_trgm")
    op.drop_index("ix_cycles_stats", table_name="cycles")
    op.drop_index("ix_units_stats", table_name="units")
