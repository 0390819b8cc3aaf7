"""trust: clock-suspect times, doubted positions, incident links, account notices, a keyed audit chain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 23:59:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: recreating a table on SQLite would drop the audit trail's
    # append-only triggers, and the big position table need not be copied for nullable columns.
    op.add_column("fixes", sa.Column("device_time", vigil.store.tables.UTCTime(timezone=True), nullable=True))
    op.add_column("fixes", sa.Column("doubt", sa.String(length=200), nullable=True))
    op.add_column(
        "device_events", sa.Column("device_time", vigil.store.tables.UTCTime(timezone=True), nullable=True)
    )
    # Retried clock-suspect reports are looked up by their claimed time; partial, so only they pay.
    for table in ("fixes", "device_events"):
        op.create_index(
            f"ix_{table}_device_claimed", table, ["device_id", "device_time"], unique=False,
            sqlite_where=sa.text("device_time IS NOT NULL"),
            postgresql_where=sa.text("device_time IS NOT NULL"),
        )  # fmt: skip
    # Entries written before this revision were chained with plain SHA-256. The downgrade keeps the
    # column (see there), so an upgrade after a downgrade finds it already present.
    audit_columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("audit_log")}
    if "mac" not in audit_columns:
        op.add_column(
            "audit_log", sa.Column("mac", sa.String(length=20), server_default="sha256", nullable=False)
        )
    op.create_table(
        "incident_links",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("holder_kind", sa.String(length=10), nullable=False),
        sa.Column("holder_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("issued_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("expires_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("revoked_at", vigil.store.tables.UTCTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_incident_links_alert_id_alerts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_incident_links_token_hash")),
    )
    op.create_index(op.f("ix_incident_links_alert_id"), "incident_links", ["alert_id"], unique=False)
    op.create_table(
        "account_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_notices")),
    )
    op.create_index(op.f("ix_account_notices_user_id"), "account_notices", ["user_id"], unique=False)
    # Who registered a protected person (null for those registered before): a probation officer may
    # name in an order only a protected person he registered himself, or one already in an order of
    # his caseload.
    op.add_column("protected_persons", sa.Column("registered_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("protected_persons") as batch_op:
        batch_op.drop_column("registered_by")
    op.drop_index(op.f("ix_account_notices_user_id"), table_name="account_notices")
    op.drop_table("account_notices")
    op.drop_index(op.f("ix_incident_links_alert_id"), table_name="incident_links")
    op.drop_table("incident_links")
    for table in ("fixes", "device_events"):
        op.drop_index(f"ix_{table}_device_claimed", table_name=table)
    with op.batch_alter_table("fixes") as batch_op:
        batch_op.drop_column("doubt")
        batch_op.drop_column("device_time")
    with op.batch_alter_table("device_events") as batch_op:
        batch_op.drop_column("device_time")
    # audit_log.mac stays: dropping a column there would recreate the table on SQLite and lose its
    # append-only triggers; an extra column with a default harms nothing.
