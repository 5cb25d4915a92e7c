"""Initial tips schema: tips, messages, attachments, duplicate links, deadline markers, inbound references,
the audit trail and the spine tables.

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
        "tips",
        sa.Column("tip_id", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("categories_version", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("unit_id", sa.String(200), nullable=True),
        sa.Column("scope_area", sa.String(64), nullable=True),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=True),
        sa.Column("location_unknown", sa.Boolean, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=True),
        sa.Column("confidentiality_requested", sa.Boolean, nullable=False),
        sa.Column("protection_requested", sa.Boolean, nullable=False),
        sa.Column("identity_enc", sa.Text, nullable=True),
        sa.Column("receipt_lookup", sa.String(16), nullable=False, unique=True),
        sa.Column("receipt_hash", sa.String(200), nullable=False),
        sa.Column("reward_ref", sa.String(100), nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("assigned_area", sa.String(64), nullable=True),
        sa.Column("assigned_officer", sa.String(200), nullable=True),
        sa.Column("triaged_at", UTCDateTime, nullable=True),
        sa.Column("verification_started_at", UTCDateTime, nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("valuable", sa.Boolean, nullable=True),
        sa.Column("suspension_reason", sa.String(64), nullable=True),
        sa.Column("duplicate_of", sa.String(64), nullable=True),
        sa.Column("extensions", sa.Text, nullable=False),
        sa.Column("deadline_name", sa.String(32), nullable=True),
        sa.Column("deadline_due_at", UTCDateTime, nullable=True),
        sa.Column("deadline_approaching_at", UTCDateTime, nullable=True),
        sa.Column("next_wakeup_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tips_dup", "tips", ["category", "received_at"])
    op.create_index("ix_tips_received", "tips", ["received_at"])
    op.create_index("ix_tips_status_scope", "tips", ["status", "scope_area"])
    op.create_index("ix_tips_wakeup", "tips", ["next_wakeup_at"])
    op.create_table(
        "tip_messages",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False, unique=True),
        sa.Column("tip_id", sa.String(64), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("internal", sa.Boolean, nullable=False),
        sa.Column("author_sub", sa.String(200), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tip_messages_tip", "tip_messages", ["tip_id", "seq"])
    op.create_table(
        "tip_attachments",
        sa.Column("attachment_id", sa.String(64), primary_key=True),
        sa.Column("tip_id", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tip_attachments_tip", "tip_attachments", ["tip_id"])
    op.create_table(
        "tip_duplicate_links",
        sa.Column("tip_id", sa.String(64), primary_key=True),
        sa.Column("other_id", sa.String(64), primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_by", sa.String(200), nullable=True),
        sa.Column("confirmed_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_tip_duplicate_links_other", "tip_duplicate_links", ["other_id"])
    op.create_table(
        "tip_deadline_markers",
        sa.Column("tip_id", sa.String(64), primary_key=True),
        sa.Column("marker", sa.String(120), primary_key=True),
        sa.Column("deadline", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("emitted_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "inbound_refs",
        sa.Column("agency", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(200), primary_key=True),
        sa.Column("tip_id", sa.String(64), nullable=False),
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


def downgrade() -> None:
    for table in ("audit_log", "inbound_refs", "tip_deadline_markers", "tip_duplicate_links", "tip_attachments",
                  "tip_messages", "tips"):
        op.drop_table(table)
    drop_spine_tables(processed_table="inbox")
