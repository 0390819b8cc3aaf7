"""dispatch: a push's draft, rendered after the commit (deliveries.body is '' until it is)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dispatch_events") as batch:
        batch.add_column(sa.Column("draft", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispatch_events") as batch:
        batch.drop_column("draft")
