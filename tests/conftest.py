"""Shared, generic fixtures: a fresh database on each supported backend, and the skip-or-fail rule for
external services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import service_unavailable

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"


@pytest.fixture(autouse=True)
def _audit_files_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit key and anchor files a server makes for a database that is not a file (PostgreSQL)
    go under var/ in the working directory; a test's go to its own folder instead."""
    from vigil.store import audit_key

    monkeypatch.setattr(audit_key, "VAR", tmp_path / "var")


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL for an empty database: a SQLite file, or a fresh PostgreSQL database that is
    dropped afterwards. Not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vigil.db'}"
        return
    import psycopg

    where = f"{PG_HOST}:{PG_PORT}"
    try:
        admin = psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True, connect_timeout=5
        )
    except psycopg.Error as exc:
        service_unavailable("PostgreSQL", where, exc)
    name = f"vigil_test_{uuid.uuid4().hex[:16]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://{PG_USER}@{where}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
