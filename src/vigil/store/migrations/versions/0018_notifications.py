"""push_subscriptions: her browsers' Web Push subscriptions; notifications: every push and text
message sent to a protected person about an alert, with its delivery state

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = vigil.store.tables.UTCTime(timezone=True)
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(2000), nullable=False),
        sa.Column("p256dh", sa.String(100), nullable=False),
        sa.Column("auth", sa.String(40), nullable=False),
        sa.Column("created_at", time, nullable=False),
        sa.Column("updated_at", time, nullable=False),
        sa.UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
    )
    op.create_index("ix_push_subscriptions_person_id", "push_subscriptions", ["person_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(2000), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", time, nullable=False),
        sa.Column("next_attempt_at", time, nullable=False),
        sa.Column("last_attempt_at", time, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("delivered_at", time, nullable=True),
    )
    op.create_index("ix_notifications_alert_id", "notifications", ["alert_id"])
    op.create_index("ix_notifications_state", "notifications", ["state"])


def downgrade() -> None:
    op.drop_index("ix_notifications_state", "notifications")
    op.drop_index("ix_notifications_alert_id", "notifications")
    op.drop_table("notifications")
    op.drop_index("ix_push_subscriptions_person_id", "push_subscriptions")
    op.drop_table("push_subscriptions")
