"""The units audit trail: a hash chain of every cycle command with its actor (shared/audit.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.audit import audit_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The table as shared/audit.py declares it (one definition for every service's chain).
    audit_table(sa.MetaData()).create(op.get_bind())
    op.create_index("ix_audit_log_target", "audit_log", ["target"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_target", "audit_log")
    op.drop_table("audit_log")
