"""incident_claims: which operator is working each incident (one claim per incident), so two
operators do not work the same one; person_notes: notes on a subject or protected person written
outside any alert (for the next shift, for probation)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 15:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0014"
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
    op.create_table(
        "person_notes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("person_kind", sa.String(20), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("author_role", sa.String(30), nullable=False),
        sa.Column("at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("text", sa.String(4000), nullable=False),
    )
    op.create_index("ix_person_notes_person", "person_notes", ["person_kind", "person_id", "at"])
    op.create_index("ix_person_notes_at", "person_notes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_person_notes_at", "person_notes")
    op.drop_index("ix_person_notes_person", "person_notes")
    op.drop_table("person_notes")
    op.drop_table("incident_claims")
