"""Initial notify schema: deliveries, inbox read state, recipients, subscriptions, directory, digests, spine.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime
from shared.spine_migration import create_spine_tables, drop_spine_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_spine_tables(processed_table="inbox")
    op.create_table(
        "cause_events",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("notification_id", sa.String(64), primary_key=True),
        sa.Column("cause_event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("event_time", UTCDateTime, nullable=False),
        sa.Column("recipient_id", sa.String(300), nullable=False),
        sa.Column("recipient_kind", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=True),
        sa.Column("subscription_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("language", sa.String(4), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("critical", sa.Boolean, nullable=False),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("digest_id", sa.String(64), nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.Column("failed_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["channel", "status", "next_attempt_at"])
    op.create_index("ix_deliveries_recipient", "deliveries", ["recipient_id", "created_at"])
    op.create_index("ix_deliveries_status_created", "deliveries", ["status", "created_at"])
    op.create_index("ix_deliveries_digest", "deliveries", ["digest_id"])
    op.create_table(
        "inbox_reads",
        sa.Column("notification_id", sa.String(64), primary_key=True),
        sa.Column("reader", sa.String(300), primary_key=True),
        sa.Column("read_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "recipients",
        sa.Column("recipient_id", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("preferences", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_recipients_kind", "recipients", ["kind"])
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("event_types", sa.Text, nullable=False),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("min_priority", sa.String(16), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=True),
        sa.Column("secret", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_subscriptions_owner", "subscriptions", ["owner"])
    op.create_table(
        "tip_directory",
        sa.Column("tip_id", sa.String(64), primary_key=True),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("priority", sa.String(16), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "unit_directory",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "award_directory",
        sa.Column("award_id", sa.String(64), primary_key=True),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("recipient_ref", sa.String(200), nullable=False),
        sa.Column("level", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "digests",
        sa.Column("digest_id", sa.String(64), primary_key=True),
        sa.Column("recipient_id", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("target", sa.Text, nullable=True),
        sa.Column("language", sa.String(4), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_digests_due", "digests", ["channel", "status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_digests_due", "digests")
    op.drop_table("digests")
    op.drop_table("award_directory")
    op.drop_table("unit_directory")
    op.drop_table("tip_directory")
    op.drop_index("ix_subscriptions_owner", "subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_recipients_kind", "recipients")
    op.drop_table("recipients")
    op.drop_table("inbox_reads")
    for index in ("ix_deliveries_digest", "ix_deliveries_status_created", "ix_deliveries_recipient",
                  "ix_deliveries_due"):
        op.drop_index(index, "deliveries")
    op.drop_table("deliveries")
    op.drop_table("cause_events")
    drop_spine_tables(processed_table="inbox")
