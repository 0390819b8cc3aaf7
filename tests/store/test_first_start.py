"""The first start of a cluster: several processes at once on one empty database (two edges, an
edge and its workers) migrate it and make the first accounts once, and none of them fails."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

import pytest
from sqlalchemy import func, select

from vigil.store import accounts
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # the race is between processes
def test_processes_starting_at_once_migrate_and_bootstrap_once(empty_database_url: str) -> None:
    starters = 4
    together = Barrier(starters)

    def start() -> dict[str, str]:
        db = open_engine(empty_database_url)  # each its own engine and connections, as a process has
        try:
            together.wait()
            migrate(db)
            together.wait()  # every schema made before anyone bootstraps: the race is for the users
            with db.begin() as conn:
                return accounts.bootstrap(conn, datetime.now(UTC))
        finally:
            db.dispose()

    with ThreadPoolExecutor(starters) as pool:
        shown = [f.result(timeout=120) for f in [pool.submit(start) for _ in range(starters)]]
    assert sorted(bool(tokens) for tokens in shown) == [False] * (starters - 1) + [True]
    db = open_engine(empty_database_url)
    try:
        with db.connect() as conn:
            assert conn.execute(select(func.count()).select_from(t.users)).scalar() == 2
    finally:
        db.dispose()
