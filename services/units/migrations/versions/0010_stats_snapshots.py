"""Shared snapshots of `GET /stats` for the nation and the provinces (`docs/benchmarks.md`, national on PostgreSQL).

The nation's figures are about fifteen aggregate statements, each a pass over a whole table (units, the year's
cycles, their reasons, models, activities, incidents): about 1 s at 1,000,000 units, and linear in the country's
size. A nation's or a province's figures are now computed once and kept here, per (year, area, kind), with the time
they were computed; every replica of the service reads the same rows, so one computation serves them all, and a
background job keeps the current year's warm (`services/units/tasks.py`). `claimed_until` is a replica's claim on
a key's computation (a conditional UPDATE: one replica computes it), `read_at` when it was last served.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_snapshots",
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("area_code", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("figures", sa.JSON, nullable=True),
        sa.Column("computed_at", UTCDateTime, nullable=True),
        sa.Column("claimed_until", UTCDateTime, nullable=True),
        sa.Column("read_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("stats_snapshots")
