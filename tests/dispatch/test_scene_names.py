"""The names a batch's pushes carry are read once for the batch (dispatch/outbox/scene.py `known`),
each by its kind: a subject and a protected person who share an id keep their own names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from vigil.dispatch.outbox.scene import Known, incident_number, known, scene
from vigil.domain.alerts import Alert, AlertKey, AlertKind, AlertState, Facts
from vigil.domain.model import Order
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine

T0 = datetime(2026, 3, 14, 3, 0, tzinfo=UTC)


@dataclass
class _Engine:
    orders: Mapping[str, Order] = field(default_factory=dict)
    tracks: Mapping[str, object] = field(default_factory=dict)

    def orders_of(self, person_id: str) -> Sequence[Order]:
        return []


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(t.subjects),
            [
                {
                    "id": "X-1",
                    "name": "Kim (subject)",
                    "legal_basis": "stalking",
                    "case_reference": "2026-01",
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
        )
        conn.execute(
            insert(t.protected_persons),
            [{"id": "X-1", "name": "Lee (victim)", "phone": "010-1", "created_at": T0, "updated_at": T0}],
        )
    try:
        yield engine
    finally:
        engine.dispose()


def _alert(subject: str | None, victim: str | None) -> Alert:
    return Alert(
        id="a-1", key=AlertKey("proximity", subject or "", victim or ""), kind=AlertKind.PROXIMITY_VIOLATION,
        state=AlertState.OPEN, active=True, opened_at=T0, updated_at=T0, facts=Facts(),
        subject_id=subject, protected_person_id=victim,
    )  # fmt: skip


def test_a_subject_and_a_victim_sharing_an_id_keep_their_own_names(db: Engine) -> None:
    alert = _alert("X-1", "X-1")
    with db.connect() as conn:
        found = known(conn, [alert], _Engine())
        assert found.people == {
            ("subject", "X-1"): ("Kim (subject)", "", "2026-01"),
            ("protected_person", "X-1"): ("Lee (victim)", "010-1", ""),
        }
        read = scene(conn, alert, _Engine(), T0, 600.0, found)  # type: ignore[arg-type]
        alone = scene(conn, alert, _Engine(), T0, 600.0)  # type: ignore[arg-type]
    assert read.subject is not None and read.victim is not None
    assert (read.subject.name, read.victim.name, read.victim.phone) == (
        "Kim (subject)",
        "Lee (victim)",
        "010-1",
    )
    assert read == alone  # the same scene as read one person at a time


def test_someone_the_batch_did_not_read_is_read_on_their_own(db: Engine) -> None:
    with db.connect() as conn:
        empty = Known({}, {})
        read = scene(conn, _alert("X-1", None), _Engine(), T0, 600.0, empty)  # type: ignore[arg-type]
        assert read.subject is not None and read.subject.name == "Kim (subject)"
        assert incident_number(conn, "i-none", empty) is None  # not in the batch, nor stored
        assert incident_number(conn, "i-1", Known({}, {"i-1": "0314-001"})) == "0314-001"
