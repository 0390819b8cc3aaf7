"""cases: closing and reopening a case (who, when, the outcome and the reason; the last reopening)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

COLUMNS = (
    "closed_at",
    "closed_by",
    "close_outcome",
    "close_reason",
    "reopened_at",
    "reopened_by",
    "reopen_reason",
)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("closed_at", vigil.store.tables.UTCTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("close_outcome", sa.String(30), nullable=True))
        batch.add_column(sa.Column("close_reason", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("reopened_at", vigil.store.tables.UTCTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reopened_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reopen_reason", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
