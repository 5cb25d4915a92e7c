"""Initial awards schema: facts learnt from units and tips, awards, certificates, the audit chain, the spine.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import BigId, UTCDateTime
from shared.spine_migration import create_spine_tables, drop_spine_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_spine_tables(processed_table="inbox")
    op.create_table(
        "units",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "unit_certifications",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("certified_event_id", sa.String(200), nullable=True),
        sa.Column("rating", sa.String(16), nullable=True),
        sa.Column("decision_no", sa.String(200), nullable=True),
        sa.Column("decided_by_level", sa.String(16), nullable=True),
        sa.Column("consecutive_years", sa.Integer, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("revoked_event_id", sa.String(200), nullable=True),
        sa.Column("revoked_reason", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "tips",
        sa.Column("tip_id", sa.String(200), primary_key=True),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("assigned_area", sa.String(64), nullable=True),
        sa.Column("unit_id", sa.String(200), nullable=True),
        sa.Column("received", sa.Boolean, nullable=False),
        sa.Column("verified_event_id", sa.String(200), nullable=True),
        sa.Column("valuable", sa.Boolean, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("reward_ref", sa.String(64), nullable=True),
        sa.Column("verified_on", sa.String(10), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tips_reward_ref", "tips", ["reward_ref"])
    op.create_table(
        "awards",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("award_id", sa.String(64), nullable=False, unique=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("award_type", sa.String(64), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("recipient_ref", sa.String(200), nullable=False),
        sa.Column("recipient_name", sa.String(500), nullable=True),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("province_code", sa.String(16), nullable=True),
        sa.Column("rule_version", sa.String(100), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("nomination", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_at", UTCDateTime, nullable=False),
        sa.Column("review_due_at", UTCDateTime, nullable=False),
        sa.Column("reviewed_at", UTCDateTime, nullable=True),
        sa.Column("overdue_at", UTCDateTime, nullable=True),
        sa.Column("decision_no", sa.String(200), nullable=True),
        sa.Column("approved_by_level", sa.String(32), nullable=True),
        sa.Column("approved_at", UTCDateTime, nullable=True),
        sa.Column("certificate_id", sa.String(64), nullable=True),
        sa.Column("granted_at", UTCDateTime, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.create_index("ix_awards_recipient", "awards", ["recipient_kind", "recipient_ref"])
    op.create_index("ix_awards_type_year", "awards", ["award_type", "year"])
    op.create_index("ix_awards_status_due", "awards", ["status", "review_due_at"])
    op.create_index("ix_awards_area", "awards", ["area_code"])
    op.create_table(
        "certificates",
        sa.Column("certificate_id", sa.String(64), primary_key=True),
        sa.Column("award_id", sa.String(64), nullable=False, unique=True),
        sa.Column("jws", sa.Text, nullable=False),
        sa.Column("credential", sa.Text, nullable=False),
        sa.Column("kid", sa.String(100), nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoked_reason", sa.Text, nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_target", "audit_log")
    op.drop_table("audit_log")
    op.drop_table("certificates")
    for index in ("ix_awards_area", "ix_awards_status_due", "ix_awards_type_year", "ix_awards_recipient"):
        op.drop_index(index, "awards")
    op.drop_table("awards")
    op.drop_index("ix_tips_reward_ref", "tips")
    op.drop_table("tips")
    op.drop_table("unit_certifications")
    op.drop_table("units")
    drop_spine_tables(processed_table="inbox")
