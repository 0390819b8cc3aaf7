"""subjects: a profile for the police sent to find him (description, vehicle, home and work
addresses) and his photo (`subject_photos`); users: a work phone (the probation officer's number
in the profile)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_SUBJECT_TEXT = (
    ("description", sa.Text()),
    ("vehicle_plate", sa.String(20)),
    ("vehicle", sa.String(200)),
    ("home_address", sa.String(300)),
    ("work_address", sa.String(300)),
)


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        for name, kind in _SUBJECT_TEXT:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=""))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String(40), nullable=False, server_default=""))
    op.create_table(
        "subject_photos",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("media_type", sa.String(20), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subject_photos")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("subjects") as batch:
        for name, _ in reversed(_SUBJECT_TEXT):
            batch.drop_column(name)
