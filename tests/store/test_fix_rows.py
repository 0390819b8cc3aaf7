"""The hot path's write of a batch's fixes (`processor._insert_fixes`), on each backend: one
statement of arrays on PostgreSQL, one row per parameter set on SQLite; both store the same rows and
skip a fix already stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from vigil.processor import FIX_COLUMNS, _insert_fixes
from vigil.store import tables as t
from vigil.store.database import open_engine

T0 = datetime(2026, 3, 14, 1, 2, 3, 456789, tzinfo=UTC)


def _row(device: str, seconds: int, **kw: object) -> tuple[object, ...]:
    values: dict[str, object] = {
        "device_id": device,
        "time": T0 + timedelta(seconds=seconds),
        "lat": 37.5,
        "lon": 127,  # an int among floats: stored as the float it is
        "accuracy_m": None,
        "speed_mps": 3,
        "heading_deg": None,
        "source": "gnss",
        "battery_pct": None,
        "received_at": T0 + timedelta(seconds=seconds + 1),
        "device_time": None,
        "doubt": None,
    }
    values.update(kw)
    return tuple(values[c] for c in FIX_COLUMNS)


@pytest.mark.both_backends
def test_a_batch_of_fixes_is_stored_once_with_every_column(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        first = [
            _row("AM-1", 0, accuracy_m=12.5, battery_pct=80),
            _row("AM-1", 60, device_time=T0 + timedelta(days=1), doubt="speed: 900 km/h"),
            _row("W-1", 0, source="wifi", heading_deg=271.5),
            _row("AM-1", 0, lat=1.0),  # the same fix twice in one batch: the first one stays
        ]
        with engine.begin() as conn:
            _insert_fixes(conn, first)
        with engine.begin() as conn:  # a retried batch, with one new fix
            _insert_fixes(conn, [_row("AM-1", 60, lat=2.0), _row("AM-1", 120)])
        with engine.connect() as conn:
            stored = conn.execute(
                select(*(t.fixes.c[c] for c in FIX_COLUMNS)).order_by(t.fixes.c.device_id, t.fixes.c.time)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in stored] == [
        _row("AM-1", 0, accuracy_m=12.5, battery_pct=80.0, lon=127.0, speed_mps=3.0),
        _row(
            "AM-1", 60, device_time=T0 + timedelta(days=1), doubt="speed: 900 km/h", lon=127.0, speed_mps=3.0
        ),
        _row("AM-1", 120, lon=127.0, speed_mps=3.0),
        _row("W-1", 0, source="wifi", heading_deg=271.5, lon=127.0, speed_mps=3.0),
    ]
    assert all(isinstance(r.lon, float) and r.time.tzinfo is not None for r in stored)
