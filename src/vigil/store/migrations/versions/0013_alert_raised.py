"""alerts: when each was last raised (opened or escalated), for the queue's order and age and the
time to acknowledge; filled in from the timeline for the alerts already stored

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("escalated_at", vigil.store.tables.UTCTime(timezone=True), nullable=True))
    # the latest opening or escalation in each alert's timeline (the same stored form on each backend)
    op.execute(
        "UPDATE alerts SET escalated_at = (SELECT max(c.at) FROM alert_changes AS c "
        "WHERE c.alert_id = alerts.id AND c.change IN ('opened', 'escalated'))"
    )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalated_at")
