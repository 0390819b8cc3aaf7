"""device identity: the protocol a device speaks, the identifier its wire carries, its network

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and a unique index, never batch mode (see 0008: it would drop the audit triggers).
    op.add_column("devices", sa.Column("protocol", sa.String(length=20), nullable=True))
    op.add_column("devices", sa.Column("identifier", sa.String(length=64), nullable=True))
    op.add_column("devices", sa.Column("network", sa.String(length=50), nullable=True))
    op.create_index("ix_devices_protocol_identifier", "devices", ["protocol", "identifier"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_devices_protocol_identifier", table_name="devices")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("network")
        batch.drop_column("identifier")
        batch.drop_column("protocol")
