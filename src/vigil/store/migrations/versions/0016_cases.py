"""cases and case_decisions: police stalking and domestic-violence cases matched to monitored
subjects, and the courts' decisions on them; subjects: birth date and the national identifier's
keyed hash, to match on

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, vigil.store.tables.UTCTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("birth_date", sa.String(10), nullable=True))
        batch.add_column(sa.Column("national_id_hash", sa.String(64), nullable=True))
        batch.create_index("ix_subjects_national_id_hash", ["national_id_hash"])
    op.create_table(
        "cases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("area", sa.String(10), nullable=False),
        sa.Column("station", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("suspect_name", sa.String(200), nullable=False),
        sa.Column("suspect_birth_date", sa.String(10), nullable=True),
        sa.Column("suspect_national_id_hash", sa.String(64), nullable=True),
        sa.Column("suspect_subject_id", sa.String(64), nullable=True),
        sa.Column("victim_id", sa.String(64), nullable=True),
        sa.Column("victim_name", sa.String(200), nullable=False),
        sa.Column("victim_phone", sa.String(40), nullable=False),
        sa.Column("offences", sa.JSON(), nullable=False),
        sa.Column("reports", sa.JSON(), nullable=False),
        sa.Column("measures_requested", sa.JSON(), nullable=False),
        sa.Column("match_state", sa.String(20), nullable=False),
        sa.Column("matched_subject_id", sa.String(64), nullable=True),
        sa.Column("match_basis", sa.String(30), nullable=False),
        _time("matched_at", True),
        sa.Column("matched_by", sa.String(64), nullable=True),
        sa.Column("review", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _time("created_at", False),
        _time("updated_at", False),
    )
    op.create_index("ix_cases_area", "cases", ["area"])
    op.create_index("ix_cases_matched_subject_id", "cases", ["matched_subject_id"])
    op.create_table(
        "case_decisions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "case_id",
            sa.String(64),
            sa.ForeignKey("cases.id", name="fk_case_decisions_case_id_cases"),
            nullable=False,
        ),
        sa.Column("measure", sa.String(20), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("court", sa.String(200), nullable=False),
        sa.Column("court_reference", sa.String(100), nullable=False),
        sa.Column("decided_on", sa.String(10), nullable=False),
        _time("valid_from", False),
        _time("valid_until", True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        _time("recorded_at", False),
    )
    op.create_index("ix_case_decisions_case_id", "case_decisions", ["case_id"])


def downgrade() -> None:
    op.drop_table("case_decisions")
    op.drop_table("cases")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_index("ix_subjects_national_id_hash")
        batch.drop_column("national_id_hash")
        batch.drop_column("birth_date")
