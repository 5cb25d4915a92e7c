"""At national size (`docs/benchmarks.md`, national on PostgreSQL): the unit's area on its cycles for /stats, and
the search text in a province's name index for registry search.

`/stats` for a province or a commune counted the year's cycles by joining them to the area's units, a pass over
every cycle of the year whatever the area. Each cycle now carries its unit's `province_code` and `commune_code`
(the handlers copy them in the same transaction as a cycle's creation or a unit's move:
`store.set_cycle_areas`), and `ix_cycles_area_stats` holds every column /stats counts after the year and the
area, so an area's cycle figures are one index-only range.

Registry search for a province's officer walked `ix_units_province_name` in name order and read the row of
every unit it skipped to test its search text (9,824 rows, 417–1,565 ms for "truong" at 500,000 units). On
PostgreSQL the index now carries the folded search text (`INCLUDE (search)`) and the page's keys are found first
(`store.list_units`), so the walk filters in the index alone (30 ms) and reads 51 rows.

This migration adds the columns, fills them from `units` (one joined UPDATE on PostgreSQL, a correlated one on
SQLite) and creates the index (after the fill, so that the fill does not write every index twice). 409,000
cycles took 106 s here on a machine shared with other work. On PostgreSQL an index built after rows were
rewritten in the same transaction is used only by transactions that start after every transaction older than
the migration has ended (`pg_index.indcheckxmin`): until then /stats reads the year's cycles as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVINCE_NAME = ["province_code", "name", "unit_id", "in_scope", "status", "kind"]


def upgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("province_code", sa.String(20), nullable=True))
        batch.add_column(sa.Column("commune_code", sa.String(50), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE cycles SET province_code = units.province_code, commune_code = units.commune_code "
                   "FROM units WHERE units.unit_id = cycles.unit_id")
    else:
        op.execute("UPDATE cycles SET "
                   "province_code = (SELECT units.province_code FROM units WHERE units.unit_id = cycles.unit_id), "
                   "commune_code = (SELECT units.commune_code FROM units WHERE units.unit_id = cycles.unit_id)")
    op.create_index("ix_cycles_area_stats", "cycles",
                    ["year", "province_code", "commune_code", "state", "late", "rating", "unit_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_units_province_name", table_name="units")
        op.create_index("ix_units_province_name", "units", PROVINCE_NAME, postgresql_include=["search"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_units_province_name", table_name="units")
        op.create_index("ix_units_province_name", "units", PROVINCE_NAME)
    op.drop_index("ix_cycles_area_stats", table_name="cycles")
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("commune_code")
        batch.drop_column("province_code")
