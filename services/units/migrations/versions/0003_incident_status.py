"""Incidents get a status (pending agency reports, confirmed, withdrawn) and who confirmed or withdrew them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("status", "confirmed_at", "confirmed_by", "withdrawn_at", "withdrawn_by", "withdrawal_reason")


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        # Incidents recorded before are confirmed: they counted when they were recorded.
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="confirmed"))
        batch.add_column(sa.Column("confirmed_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.JSON, nullable=True))
        batch.add_column(sa.Column("withdrawn_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.JSON, nullable=True))
        batch.add_column(sa.Column("withdrawal_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
