"""order_reminders: each reminder sent to both agencies before an order ends, keyed by the order,
the end it was about and the lead time, so that each is sent once, whoever runs the sweep

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = vigil.store.tables.UTCTime(timezone=True)
    op.create_table(
        "order_reminders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("valid_until", time, primary_key=True),
        sa.Column("lead_days", sa.Integer(), primary_key=True),
        sa.Column("sent_at", time, nullable=False),
        sa.Column("days_left", sa.Integer(), nullable=False),
        sa.Column("sent_for", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_reminders")
