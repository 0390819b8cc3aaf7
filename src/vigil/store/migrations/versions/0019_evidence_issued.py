"""evidence_issued: every evidence file handed out (breach reports, victims' packs, courts' full
versions) by the SHA-256 of its content and of its bytes, so a court can check a file against Vigil

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_issued",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("issued_to", sa.String(200), nullable=False),
        sa.Column("issued_at", vigil.store.tables.UTCTime(timezone=True), nullable=False),
    )
    op.create_index("ix_evidence_issued_content_sha256", "evidence_issued", ["content_sha256"])
    op.create_index("ix_evidence_issued_file_sha256", "evidence_issued", ["file_sha256"])


def downgrade() -> None:
    op.drop_table("evidence_issued")
