"""alert quality: incidents, per-device location limit and reporting interval

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (see 0008: batch mode would drop the audit triggers).
    op.add_column("devices", sa.Column("location_limit_s", sa.Float(), nullable=True))
    op.add_column("devices", sa.Column("report_interval_s", sa.Float(), nullable=True))
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("protected_person_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("opened_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("escalated_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("updated_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("closed_at", vigil.store.tables.UTCTime(timezone=True), nullable=True),
        sa.Column("active_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("number", name=op.f("uq_incidents_number")),
    )
    op.create_index(op.f("ix_incidents_subject_id"), "incidents", ["subject_id"], unique=False)
    op.create_index(op.f("ix_incidents_open"), "incidents", ["open"], unique=False)
    op.add_column("alerts", sa.Column("incident_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_alerts_incident_id"), "alerts", ["incident_id"], unique=False)
    op.add_column("incident_links", sa.Column("incident_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_incident_links_incident_id"), "incident_links", ["incident_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_links_incident_id"), table_name="incident_links")
    with op.batch_alter_table("incident_links") as batch:
        batch.drop_column("incident_id")
    op.drop_index(op.f("ix_alerts_incident_id"), table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("incident_id")
    op.drop_index(op.f("ix_incidents_open"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_subject_id"), table_name="incidents")
    op.drop_table("incidents")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("report_interval_s")
        batch.drop_column("location_limit_s")
