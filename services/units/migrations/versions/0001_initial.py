"""Initial units schema: registry, history, cycles, incidents, activities, inbound references, spine tables.

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
        sa.Column("province_code", sa.String(20), nullable=False),
        sa.Column("commune_code", sa.String(50), nullable=True),
        sa.Column("area_code", sa.String(80), nullable=False),
        sa.Column("external_key", sa.String(200), nullable=True, unique=True),
        sa.Column("in_scope", sa.Boolean, nullable=False),
        sa.Column("out_of_scope_rule", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("managing_level", sa.String(16), nullable=False),
        sa.Column("search", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_units_area_kind", "units", ["province_code", "commune_code", "kind"])
    op.create_index("ix_units_name", "units", ["name", "unit_id"])
    op.create_index("ix_units_kind_scope", "units", ["kind", "in_scope"])
    op.create_table(
        "unit_models",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
    )
    op.create_index("ix_unit_models_model", "unit_models", ["model"])
    op.create_table(
        "unit_history",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("changed", sa.JSON, nullable=False),
    )
    op.create_index("ix_unit_history_unit", "unit_history", ["unit_id", "seq"])
    op.create_table(
        "cycles",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("framework_code", sa.String(200), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("rating", sa.String(16), nullable=True),
        sa.Column("criteria_met", sa.Integer, nullable=True),
        sa.Column("criteria_total", sa.Integer, nullable=True),
        sa.Column("registered_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_cycles_year_state", "cycles", ["year", "state"])
    op.create_table(
        "cycle_reasons",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("reason", sa.String(600), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("value", sa.String(600), nullable=False),
    )
    op.create_index("ix_cycle_reasons_year_kind", "cycle_reasons", ["year", "kind"])
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("disqualifying", sa.Boolean, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("framework_code", sa.String(200), nullable=False),
    )
    op.create_index("ix_incidents_unit_year", "incidents", ["unit_id", "year"])
    op.create_index("ix_incidents_year_category", "incidents", ["year", "category"])
    op.create_table(
        "activities",
        sa.Column("activity_id", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("participants", sa.Integer, nullable=False),
        sa.Column("commitments_signed", sa.Integer, nullable=True),
        sa.Column("title", sa.String(500), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("reported_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_activities_year_kind", "activities", ["year", "kind"])
    op.create_index("ix_activities_unit", "activities", ["unit_id", "held_on"])
    op.create_table(
        "inbound_refs",
        sa.Column("agency", sa.String(100), primary_key=True),
        sa.Column("message_type", sa.String(100), primary_key=True),
        sa.Column("reference", sa.String(200), primary_key=True),
        sa.Column("result_id", sa.String(200), nullable=True),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("inbound_refs", "activities", "incidents", "cycle_reasons", "cycles", "unit_history",
                  "unit_models", "units"):
        op.drop_table(table)
    drop_spine_tables(processed_table="inbox")
