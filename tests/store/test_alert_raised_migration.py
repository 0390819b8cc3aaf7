"""Migration 0013 on both backends: alerts stored before it get `escalated_at` from their own
timeline (their latest opening or escalation); one with no such entry keeps none, and reads back
with its opening standing in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, Table, insert, select

from vigil.store import tables as t
from vigil.store.codec import alert_from_row
from vigil.store.database import MIGRATIONS, migrate, open_engine
from vigil.store.tables import UTCTime

pytestmark = pytest.mark.both_backends  # a migration that fills a time column in from another table

T0 = datetime(2026, 11, 1, 21, 0, tzinfo=UTC)

# the alerts table as migration 0012 left it
BEFORE_0013 = Table("alerts", MetaData(), *(c._copy() for c in t.alerts.columns if c.name != "escalated_at"))


def migrate_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def alert(alert_id: str, kind: str) -> dict[str, Any]:
    return {
        "id": alert_id, "key": f"proximity:S-{alert_id}:P-{alert_id}", "kind": kind, "severity": "critical",
        "state": "open", "active": True, "late": False, "subject_id": f"S-{alert_id}",
        "protected_person_id": f"P-{alert_id}", "zone_id": None, "order_id": None, "opened_at": T0,
        "updated_at": T0 + timedelta(minutes=12), "facts": {}, "incident_id": None,
    }  # fmt: skip


def change(alert_id: str, kind: str, what: str, minutes: float) -> dict[str, Any]:
    return {
        "alert_id": alert_id, "change": what, "at": T0 + timedelta(minutes=minutes), "actor": "vigil",
        "note": "", "kind": kind, "state": "open", "active": True, "facts": {},
    }  # fmt: skip


def test_alerts_stored_before_0013_are_raised_when_their_timeline_says(empty_database_url: str) -> None:
    assert isinstance(t.alerts.c.escalated_at.type, UTCTime)
    engine = open_engine(empty_database_url)
    try:
        migrate_to(engine, "0012")
        with engine.begin() as conn:
            conn.execute(
                insert(BEFORE_0013),
                [alert("A", "proximity_violation"), alert("B", "proximity_warning"), alert("C", "sos")],
            )
            conn.execute(
                insert(t.alert_changes),
                [
                    change("A", "proximity_warning", "opened", 0),
                    change("A", "proximity_warning", "updated", 5),
                    change("A", "proximity_violation", "escalated", 11),  # the raise that counts
                    change("A", "proximity_violation", "updated", 12),
                    change("B", "proximity_warning", "opened", 0),
                    change("B", "proximity_warning", "acknowledged", 3),
                ],
            )
        migrate(engine)
        with engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(t.alerts))}
        assert rows["A"].escalated_at == T0 + timedelta(minutes=11)
        assert rows["B"].escalated_at == T0
        assert rows["C"].escalated_at is None  # no timeline: nothing to say
        assert alert_from_row(rows["A"]).raised_at == T0 + timedelta(minutes=11)
        assert alert_from_row(rows["C"]).raised_at == T0  # its opening stands in
    finally:
        engine.dispose()
