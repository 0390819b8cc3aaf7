"""The processor hands the engine the past a late fix needs, read from the fixes table: after a
restart (memory holds two fixes per device) a batch 30 minutes late is still judged against where she
really was at each fix's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection

from vigil.commands import Ingest, Touched, Write
from vigil.domain import geo
from vigil.domain.alerts import AlertKind, Change
from vigil.domain.model import DeviceKind, Fix, LegalBasis
from vigil.processor import Processor
from vigil.store import records
from vigil.store.database import migrate, open_engine

T0 = datetime(2026, 3, 14, 7, 0, tzinfo=UTC)
HOME = (37.42, 127.1265)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _registry(conn: Connection, now: datetime) -> Touched:
    records.put_subject(conn, now, subject_id="S1", name="", legal_basis=LegalBasis.PAROLE)
    records.put_protected_person(conn, now, person_id="P1", name="")
    records.put_device(conn, now, device_id="AM-1", kind=DeviceKind.ANKLE_MONITOR, person_id="S1")
    records.put_device(conn, now, device_id="W-1", kind=DeviceKind.SMARTWATCH, person_id="P1")
    records.put_order(
        conn, now, order_id="O1", subject_id="S1", protected_person_id="P1",
        violation_distance_m=100, warning_distance_m=1000, legal_basis=LegalBasis.OTHER,
    )  # fmt: skip
    return Touched(devices=("AM-1", "W-1"), orders=("O1",))


def _hers(minute: int) -> Fix:
    """At home until 11 min, then driving south at about 340 m a minute."""
    lat, lon = HOME if minute <= 11 else geo.destination(*HOME, 180.0, (minute - 11) * 340.0)
    return Fix("W-1", at(minute), lat, lon, accuracy_m=10)


def test_a_late_batch_after_a_restart_is_judged_against_the_store(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate(db)
    processor = Processor(db)
    processor.load(at(-60))
    processor.run([Write(_registry)], at(-60))
    far = geo.destination(*HOME, 0.0, 3000.0)
    processor.run([Ingest([(0, Fix("AM-1", at(0), *far, accuracy_m=10))], at(0))], at(0))
    for minute in range(41):
        processor.run([Ingest([(0, _hers(minute))], at(minute))], at(minute))
    processor.load(at(40.5))  # a restart: memory holds what was restored, the store the rest

    near_her = geo.destination(*HOME, 0.0, 50.0)
    batch = [(0, Fix("AM-1", at(5), *near_her, accuracy_m=10)), (1, Fix("AM-1", at(40), *far, accuracy_m=10))]
    (_,), out = processor.run([Ingest(batch, at(40.5))], at(40.5))
    summary = [(c.change, c.alert.kind) for c in out.alerts if c.alert.kind is AlertKind.PROXIMITY_VIOLATION]
    assert summary == [
        (Change.OPENED, AlertKind.PROXIMITY_VIOLATION),
        (Change.CLEARED, AlertKind.PROXIMITY_VIOLATION),
    ]
    opened = next(c for c in out.alerts if c.change is Change.OPENED)
    assert opened.alert.late and opened.alert.facts.occurred_at == at(5)
    assert opened.alert.facts.protected_position is not None
    assert opened.alert.facts.protected_position.time == at(5)
    assert processor.engine._past == {}  # what was recalled is dropped after the batch
    db.dispose()


def test_an_implausible_move_is_stored_with_its_doubt_and_reporting_is_requested(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate(db)
    processor = Processor(db)
    processor.load(at(-60))
    processor.run([Write(_registry)], at(-60))
    far = geo.destination(*HOME, 0.0, 3000.0)
    processor.run([Ingest([(0, Fix("AM-1", at(0), *far, accuracy_m=10, speed_mps=0.0))], at(0))], at(0))
    jump = Fix("AM-1", at(1), *geo.destination(*HOME, 0.0, 50.0), accuracy_m=10, speed_mps=0.0)
    _, out = processor.run([Ingest([(0, jump)], at(1))], at(1))
    (request,) = out.reporting
    assert request.device_id == "AM-1"
    processor.load(at(2))  # the doubted position is not restored as his
    latest = processor.engine.tracks["S1"].latest
    assert latest is not None and latest.time == at(0)
    db.dispose()


def test_the_late_horizon_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.config import Settings

    monkeypatch.setenv("VIGIL_LATE_HORIZON_S", "3600")
    assert Settings().late_horizon_s == 3600.0
    monkeypatch.delenv("VIGIL_LATE_HORIZON_S")
    assert Settings().late_horizon_s == 86_400.0
