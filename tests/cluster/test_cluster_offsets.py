"""A worker's batch moves all its partitions' offsets in one statement (`Advances`), fenced as one
partition at a time was: a partition another worker moved since makes the whole batch fail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from vigil.commands import Advance, Advances, Fenced
from vigil.processor import Processor
from vigil.store import tables as t
from vigil.store.database import open_engine

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.both_backends
def test_a_batch_moves_its_partitions_together_and_a_stale_one_fences_it_all(database_url: str) -> None:
    db = open_engine(database_url)
    processor = Processor(db)
    processor.load(NOW)

    def offsets() -> dict[int, int]:
        with db.connect() as conn:
            rows = conn.execute(select(t.cluster_offsets.c.partition, t.cluster_offsets.c.seq))
            return {int(p): int(s) for p, s in rows}

    processor.run([Advances((Advance(1, 0, 5, "w1"), Advance(2, 0, 7, "w1")))], NOW)
    assert offsets() == {1: 5, 2: 7}
    processor.run([Advances((Advance(1, 5, 9, "w1"), Advance(2, 7, 8, "w1"), Advance(3, 0, 2, "w1")))], NOW)
    assert offsets() == {1: 9, 2: 8, 3: 2}

    # partition 2 was moved on by another worker (8 -> 10): this worker's batch from 8 is refused whole
    processor.run([Advances((Advance(2, 8, 10, "w2"),))], NOW)
    with pytest.raises(Fenced) as fenced:
        processor.run([Advances((Advance(1, 9, 12, "w1"), Advance(2, 8, 11, "w1")))], NOW)
    assert fenced.value.partition == 2
    assert offsets() == {1: 9, 2: 10, 3: 2}
    with db.connect() as conn:
        assert (
            conn.execute(
                select(t.cluster_offsets.c.worker).where(t.cluster_offsets.c.partition == 2)
            ).scalar()
            == "w2"
        )
    db.dispose()
