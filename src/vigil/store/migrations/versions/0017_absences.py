"""absences: a probation officer's approval for a subject to be away from a curfew or zone for a
window, with a reason; zone violations inside it are held back from dispatch and shown as covered

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "absences",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "subject_id",
            sa.String(64),
            sa.ForeignKey("subjects.id", name="fk_absences_subject_id_subjects"),
            nullable=False,
        ),
        sa.Column("zone_id", sa.String(64), nullable=True),
        sa.Column("starts_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("ends_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=False),
        sa.Column("approved_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("revoked_at", vigil.store.tables.UTCTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_absences_subject_id", "absences", ["subject_id"])


def downgrade() -> None:
    op.drop_table("absences")
