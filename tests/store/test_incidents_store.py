"""Incidents in the database, on both backends: the radio number (`MMDD-NN`, unique forever) and the
round trip the engine relies on after a restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from vigil.domain.alerts import AlertKind
from vigil.domain.incidents import Incident
from vigil.store import incidents
from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # incident numbers by day, through the index

SEOUL = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)  # 12:00 in Seoul, 6 December


def incident(ident: str, at: datetime, **changes: object) -> Incident:
    base = Incident(
        id=ident,
        subject_id="S1",
        protected_person_id="P1",
        kind=AlertKind.PROXIMITY_WARNING,
        opened_at=at,
        escalated_at=at,
        updated_at=at,
        active_at=at,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def numbers(db: Engine) -> dict[str, str]:
    with db.connect() as conn:
        return {r.id: r.number for r in conn.execute(select(t.incidents.c.id, t.incidents.c.number))}


def test_numbers_count_per_calendar_day_in_the_centres_zone_and_never_repeat_across_years(db: Engine) -> None:
    with db.begin() as conn:
        incidents.write(conn, [incident("i1", T0), incident("i2", T0 + timedelta(minutes=1))], SEOUL)
    with db.begin() as conn:
        # 23:30 UTC on the 6th is already the 7th in Seoul
        incidents.write(conn, [incident("i3", datetime(2026, 12, 6, 15, 30, tzinfo=UTC))], SEOUL)
        incidents.write(conn, [incident("i4", T0 + timedelta(hours=2))], SEOUL)
    with db.begin() as conn:  # a year later, the same calendar day carries on where it stopped
        incidents.write(conn, [incident("i5", T0.replace(year=2027))], SEOUL)
    assert numbers(db) == {
        "i1": "1206-01",
        "i2": "1206-02",
        "i3": "1207-01",
        "i4": "1206-03",
        "i5": "1206-04",
    }


def test_an_update_keeps_the_number_and_the_open_ones_come_back(db: Engine) -> None:
    with db.begin() as conn:
        incidents.write(conn, [incident("i1", T0), incident("i2", T0)], SEOUL)
    later = T0 + timedelta(minutes=5)
    with db.begin() as conn:
        incidents.write(
            conn,
            [
                incident("i1", T0, kind=AlertKind.PROXIMITY_VIOLATION, escalated_at=later, updated_at=later),
                incident("i2", T0, open=False, closed_at=later, updated_at=later),
            ],
            SEOUL,
        )
    assert numbers(db) == {"i1": "1206-01", "i2": "1206-02"}
    with db.connect() as conn:
        [back] = incidents.load_open(conn)
        row = conn.execute(select(t.incidents).where(t.incidents.c.id == "i1")).one()
    assert back == incident(
        "i1", T0, kind=AlertKind.PROXIMITY_VIOLATION, escalated_at=later, updated_at=later
    )
    assert (row.severity, row.open) == ("critical", True)


def test_a_busy_day_goes_past_99_and_the_next_day_does_not_see_it(db: Engine) -> None:
    with db.begin() as conn:
        incidents.write(conn, [incident(f"a{n}", T0) for n in range(99)], SEOUL)
        incidents.write(conn, [incident("a99", T0)], SEOUL)  # -100 sorts before -99 as text
        incidents.write(conn, [incident("a100", T0)], SEOUL)
        incidents.write(conn, [incident("b0", T0 + timedelta(days=1))], SEOUL)
    got = numbers(db)
    assert (got["a98"], got["a99"], got["a100"], got["b0"]) == ("1206-99", "1206-100", "1206-101", "1207-01")
