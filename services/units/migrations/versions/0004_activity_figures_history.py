"""Activity kinds as data (each activity's figures) and the history import (past results, awards held).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.add_column(sa.Column("figures", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("kinds_version", sa.String(100), nullable=True))
    op.create_table(
        "activity_figures",
        sa.Column("activity_id", sa.String(64), primary_key=True),
        sa.Column("figure", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.create_index("ix_activity_figures_year_kind", "activity_figures", ["year", "kind"])
    # The activities reported before: their participants and commitments are their figures.
    op.execute("INSERT INTO activity_figures (activity_id, figure, unit_id, year, kind, value) "
               "SELECT activity_id, 'participants', unit_id, year, kind, participants FROM activities")
    op.execute("INSERT INTO activity_figures (activity_id, figure, unit_id, year, kind, value) "
               "SELECT activity_id, 'commitments_signed', unit_id, year, kind, commitments_signed FROM activities "
               "WHERE commitments_signed IS NOT NULL")
    op.create_table(
        "past_recognitions",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("recognized", sa.Boolean(), nullable=False),
        sa.Column("decision_no", sa.String(200), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_by_level", sa.String(16), nullable=False),
        sa.Column("rating", sa.String(16), nullable=True),
        sa.Column("imported_at", UTCDateTime, nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "past_awards",
        sa.Column("award_type", sa.String(64), primary_key=True),
        sa.Column("recipient_kind", sa.String(16), primary_key=True),
        sa.Column("recipient_ref", sa.String(200), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("recipient_name", sa.String(500), nullable=True),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("area_code", sa.String(80), nullable=True),
        sa.Column("decision_no", sa.String(200), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("imported_at", UTCDateTime, nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_past_awards_unit", "past_awards", ["unit_id"])


def downgrade() -> None:
    op.drop_index("ix_past_awards_unit", "past_awards")
    op.drop_table("past_awards")
    op.drop_table("past_recognitions")
    op.drop_index("ix_activity_figures_year_kind", "activity_figures")
    op.drop_table("activity_figures")
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("kinds_version")
        batch.drop_column("figures")
