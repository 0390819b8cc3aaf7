"""Fixtures the store tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from vigil.store.database import migrate, open_engine


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A migrated database on each backend, disposed of afterwards."""
    engine = open_engine(database_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
