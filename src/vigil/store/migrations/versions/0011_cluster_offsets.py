"""cluster mode: how far each partition of the durable log has been applied

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_offsets",
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("updated_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partition"),
    )


def downgrade() -> None:
    op.drop_table("cluster_offsets")
