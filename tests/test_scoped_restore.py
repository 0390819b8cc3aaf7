"""A worker rebuilds its engine from its own devices' past only: the scoped reads of the newest
fixes and of when each device was last heard give, for those devices, exactly what the reads over
every device give (on PostgreSQL they take another path: a lateral read per device)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from vigil.store import registry
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = pytest.mark.both_backends  # PostgreSQL reads a scope another way than SQLite

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_scoped_restore_reads_what_the_whole_read_gives_for_those_devices(database_url: str) -> None:
    db = open_engine(database_url)
    try:
        devices = [f"D-{i}" for i in range(7)]
        with db.begin() as conn:
            conn.execute(
                insert(t.devices),
                [
                    {"id": d, "kind": "phone", "person_id": None, "created_at": T0, "updated_at": T0}
                    for d in devices
                ],
            )
            rows = []
            for i, d in enumerate(devices):
                for k in range(i + 1):  # D-0 has one fix, D-6 seven
                    at = T0 + timedelta(minutes=k)
                    rows.append(
                        {
                            "device_id": d,
                            "time": at,
                            "lat": 37.5 + k / 1000,
                            "lon": 127.0,
                            "source": "gnss",
                            # received out of order for some: the latest receipt is not the latest fix
                            "received_at": at + timedelta(seconds=90 if k == 0 else 5),
                            # the newest fix of D-3 is doubted: never restored as a position
                            "doubt": "implausible jump" if (d == "D-3" and k == i) else None,
                        }
                    )
            conn.execute(insert(t.fixes), rows)
            conn.execute(
                insert(t.device_events),
                [
                    {
                        "device_id": "D-1",
                        "time": T0,
                        "kind": "sos",
                        "detail": {},
                        "received_at": T0 + timedelta(hours=1),
                    }
                ],
            )
        scope = {"D-1", "D-3", "D-6", "D-unknown"}
        with db.connect() as conn:
            every = sorted(
                (f.device_id, f.time, f.lat) for f in registry.recent_fixes(conn, 2) if f.device_id in scope
            )
            scoped = sorted((f.device_id, f.time, f.lat) for f in registry.recent_fixes(conn, 2, scope))
            heard_all = {d: at for d, at in registry.last_heard(conn).items() if d in scope}
            heard_scoped = registry.last_heard(conn, scope)
        assert scoped == every
        assert {d for d, _, _ in scoped} == {"D-1", "D-3", "D-6"}
        assert [time for d, time, _ in scoped if d == "D-3"] == [
            T0 + timedelta(minutes=1),
            T0 + timedelta(minutes=2),
        ]
        assert heard_scoped == heard_all
        assert heard_scoped["D-1"] == T0 + timedelta(hours=1)  # the event, later than any fix
        assert set(heard_scoped) == {"D-1", "D-3", "D-6"}
    finally:
        db.dispose()
