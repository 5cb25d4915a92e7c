"""Names in notify's directory: a unit's name and kind, a tip's category and receipt time, an award's type and year.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("unit_directory") as table:
        table.add_column(sa.Column("name", sa.String(500), nullable=True))
        table.add_column(sa.Column("kind", sa.String(32), nullable=True))
    with op.batch_alter_table("tip_directory") as table:
        table.add_column(sa.Column("category", sa.String(100), nullable=True))
        table.add_column(sa.Column("received_at", UTCDateTime, nullable=True))
    with op.batch_alter_table("award_directory") as table:
        table.add_column(sa.Column("award_type", sa.String(100), nullable=True))
        table.add_column(sa.Column("year", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("award_directory") as table:
        table.drop_column("year")
        table.drop_column("award_type")
    with op.batch_alter_table("tip_directory") as table:
        table.drop_column("received_at")
        table.drop_column("category")
    with op.batch_alter_table("unit_directory") as table:
        table.drop_column("kind")
        table.drop_column("name")
