"""The single writer's promise: memory never holds what the disk does not. A batch whose commit fails
leaves neither rows nor engine state behind, and the same reports go through when retried. A command
the writer refuses undoes itself alone, and its caller is handed the refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from vigil.commands import Ingest, IngestOutcome, Refused, Touched, Write
from vigil.domain.model import DeviceKind, Fix, LegalBasis
from vigil.processor import Processor
from vigil.runner import Runner
from vigil.store import records
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine

NOW = datetime(2026, 3, 14, 7, 0, tzinfo=UTC)


def _registry(conn: Connection, now: datetime) -> Touched:
    records.put_subject(conn, now, subject_id="S1", name="", legal_basis=LegalBasis.PAROLE)
    return records.put_device(conn, now, device_id="AM-1", kind=DeviceKind.ANKLE_MONITOR, person_id="S1")


def _boom(conn: Connection, now: datetime) -> Touched:
    raise RuntimeError("disk full")


def test_a_failed_commit_leaves_nothing_behind_and_a_retry_succeeds(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate(db)
    processor = Processor(db)
    processor.load(NOW)
    processor.run([Write(_registry)], NOW)
    fix = Fix("AM-1", NOW, 37.5, 127.0, accuracy_m=10)

    with pytest.raises(RuntimeError, match="disk full"):
        processor.run([Ingest([(0, fix)], NOW), Write(_boom)], NOW)
    assert "S1" not in processor.engine.tracks  # the engine was rebuilt from the database
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.fixes)).scalar() == 0

    (outcome,), _ = processor.run([Ingest([(0, fix)], NOW)], NOW)
    assert isinstance(outcome, IngestOutcome)
    assert (outcome.stored, outcome.duplicates) == (1, 0)
    assert processor.engine.tracks["S1"].latest == fix
    db.dispose()


def _refused(conn: Connection, now: datetime) -> Touched:
    records.put_subject(conn, now, subject_id="S2", name="", legal_basis=LegalBasis.PAROLE)
    raise Refused("subject_id", "refused after writing")


def test_a_refused_command_undoes_itself_alone(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate(db)
    processor = Processor(db)
    processor.load(NOW)
    fix = Fix("AM-1", NOW, 37.5, 127.0, accuracy_m=10)

    results, _ = processor.run([Write(_registry), Write(_refused), Ingest([(0, fix)], NOW)], NOW)

    created, refusal, outcome = results
    assert created is True
    assert isinstance(refusal, Refused) and (refusal.field, refusal.reason) == (
        "subject_id",
        "refused after writing",
    )
    assert isinstance(outcome, IngestOutcome) and outcome.stored == 1
    with db.connect() as conn:
        subjects = set(conn.execute(select(t.subjects.c.id)).scalars())
        assert subjects == {"S1"}  # the refused write's own row was undone with it
        assert conn.execute(select(func.count()).select_from(t.fixes)).scalar() == 1
    db.dispose()


def test_the_runner_hands_a_refusal_to_its_caller_and_answers_the_rest(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate(db)
    runner = Runner(Processor(db), lambda _: None, clock=lambda: NOW)
    runner.start()
    try:
        refused = runner.submit(Write(_refused))
        created = runner.submit(Write(_registry))
        with pytest.raises(Refused, match="subject_id: refused after writing"):
            refused.result(timeout=30)
        assert created.result(timeout=30) is True
    finally:
        runner.stop()
        db.dispose()
