"""Migration 0018 (notifications) on both backends: the tables the schema names, an endpoint kept
once, a record written and read back, and it goes back down to 0017 and up again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from vigil.store import tables as t
from vigil.store.database import MIGRATIONS, migrate, open_engine

pytestmark = pytest.mark.both_backends

T0 = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)


def move(engine: Engine, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_tables_match_the_schema_and_go_down_and_up(empty_database_url: str) -> None:
    engine = open_engine(empty_database_url)
    try:
        migrate(engine)
        seen = inspect(engine)
        for table in (t.push_subscriptions, t.notifications):
            assert {c["name"] for c in seen.get_columns(table.name)} == {c.name for c in table.columns}
        subscription = {"person_id": "P1", "endpoint": "https://push.example.com/1", "p256dh": "k", "auth": "a",
                        "created_at": T0, "updated_at": T0}  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(t.push_subscriptions), subscription)
            conn.execute(
                insert(t.notifications),
                {"alert_id": "a-1", "person_id": "P1", "channel": "sms", "kind": "near", "recipient": "010",
                 "payload": "약 900 m", "distance_m": 850.5, "state": "pending", "attempts": 0, "created_at": T0,
                 "next_attempt_at": T0, "last_error": ""},
            )  # fmt: skip
            row = conn.execute(select(t.notifications)).one()
            assert (row.payload, row.distance_m, row.created_at) == ("약 900 m", 850.5, T0)
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(t.push_subscriptions), subscription)  # one endpoint, one row
        move(engine, "0017", down=True)
        assert {"push_subscriptions", "notifications"}.isdisjoint(inspect(engine).get_table_names())
        move(engine, "head")
    finally:
        engine.dispose()
