"""Registry search at national size: on PostgreSQL a trigram index on the folded search text, so that
`GET /units?q=` finds words anywhere in a million units without reading them all (`docs/benchmarks.md`,
national on PostgreSQL). SQLite (one province) reads the table as before.

The pg_trgm extension ships with PostgreSQL and is trusted (a database owner may create it). Where it cannot be
created, search still works, by reading the table, and the migration says so.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)


def upgrade() -> None:
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
