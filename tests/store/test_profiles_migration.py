"""Migration 0015 (profiles) on both backends: subjects and users stored before it get empty profile
fields and phone; a photo's bytes, NUL bytes included, are kept as they are; and it goes back down."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, Table, insert, inspect, select

from vigil.store import tables as t
from vigil.store.database import MIGRATIONS, migrate, open_engine

pytestmark = pytest.mark.both_backends

T0 = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
PROFILE = {"description", "vehicle_plate", "vehicle", "home_address", "work_address"}
# the subjects table as migration 0013 left it
BEFORE = Table("subjects", MetaData(), *(c._copy() for c in t.subjects.columns if c.name not in PROFILE))


def move(engine: Engine, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_subjects_stored_before_get_an_empty_profile_and_a_photo_keeps_its_bytes(
    empty_database_url: str,
) -> None:
    engine = open_engine(empty_database_url)
    try:
        move(engine, "0013")
        with engine.begin() as conn:
            conn.execute(
                insert(BEFORE),
                {"id": "S1", "name": "him", "legal_basis": "parole", "case_reference": "", "notes": "",
                 "created_at": T0, "updated_at": T0},
            )  # fmt: skip
        migrate(engine)
        image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00\xff"
        with engine.begin() as conn:
            row = conn.execute(select(t.subjects)).one()
            assert {name: getattr(row, name) for name in PROFILE} == dict.fromkeys(PROFILE, "")
            conn.execute(
                insert(t.subject_photos),
                {"subject_id": "S1", "media_type": "image/png", "data": image, "size": len(image),
                 "sha256": "0" * 64, "uploaded_by": "u-op", "uploaded_at": T0},
            )  # fmt: skip
            assert bytes(conn.execute(select(t.subject_photos.c.data)).scalar_one()) == image
        move(engine, "0013", down=True)
        assert "subject_photos" not in inspect(engine).get_table_names()
        assert PROFILE.isdisjoint(c["name"] for c in inspect(engine).get_columns("subjects"))
        move(engine, "head")
    finally:
        engine.dispose()
