"""incident_claims: which operator is working each incident (one claim per incident), so two
operators do not work the same one

Revision ID: 0014_claims
Revises: 0013
Create Date: 2026-12-06 15:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0014_claims"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_claims",
        sa.Column("incident_id", sa.String(64), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("claimed_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_claims")
