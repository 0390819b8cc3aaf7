"""Fixtures the store tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from vigil.store.database import open_engine


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """An engine on the test's own migrated database (`database_url`), disposed of afterwards."""
    engine = open_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()
