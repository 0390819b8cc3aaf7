"""device identity and commands: the protocol a device speaks, the identifier its wire carries, its
network; commands queued for devices

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and a unique index, never batch mode (see 0008: it would drop the audit triggers).
    op.add_column("devices", sa.Column("protocol", sa.String(length=20), nullable=True))
    op.add_column("devices", sa.Column("identifier", sa.String(length=64), nullable=True))
    op.add_column("devices", sa.Column("network", sa.String(length=50), nullable=True))
    op.add_column(
        "devices", sa.Column("pursuit_since", vigil.store.tables.UTCTime(timezone=True), nullable=True)
    )
    op.add_column("devices", sa.Column("pursuit_reason", sa.String(length=200), nullable=True))
    op.add_column(
        "devices", sa.Column("offline_since", vigil.store.tables.UTCTime(timezone=True), nullable=True)
    )
    op.add_column("devices", sa.Column("ble_tag", sa.String(length=64), nullable=True))
    op.create_index("ix_devices_ble_tag", "devices", ["ble_tag"], unique=True)
    op.create_index("ix_devices_protocol_identifier", "devices", ["protocol", "identifier"], unique=True)
    op.create_table(
        "device_commands",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("expires_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("sent_at", vigil.store.tables.UTCTime(timezone=True), nullable=True),
        sa.Column("done_at", vigil.store.tables.UTCTime(timezone=True), nullable=True),
        sa.Column("reply", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_commands")),
        sa.UniqueConstraint("device_id", "ref", name="uq_device_commands_device_id"),
    )
    op.create_index(op.f("ix_device_commands_device_id"), "device_commands", ["device_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_devices_ble_tag", table_name="devices")
    op.drop_index(op.f("ix_device_commands_device_id"), table_name="device_commands")
    op.drop_table("device_commands")
    op.drop_index("ix_devices_protocol_identifier", table_name="devices")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("ble_tag")
        batch.drop_column("offline_since")
        batch.drop_column("pursuit_reason")
        batch.drop_column("pursuit_since")
        batch.drop_column("network")
        batch.drop_column("identifier")
        batch.drop_column("protocol")
