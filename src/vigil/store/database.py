"""Opening the database and bringing its schema up to date."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
BACKSTOP_PAGES = 20_000  # about 80 MB of WAL
CHECKPOINT_EVERY_S = 1.0


def open_engine(url: str) -> Engine:
    """An engine for `url`. SQLite gets WAL (readers never block the writer) and FULL sync, so a
    commit is on disk before a device is answered; PostgreSQL is durable at commit by default.
    Connections are pooled: opening one per batch would rerun the PRAGMAs, and closing the last one
    makes SQLite checkpoint and delete its WAL each time, which is most of a batch's latency."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8, max_overflow=8
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoints run from a background connection (Checkpointer); this high mark is only a backstop,
    # because a checkpoint inside the writer's commit stalls every device waiting on that commit.
    cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.close()


# Alembic keeps its running context in module globals: two migrations at once in one process (an edge
# and a worker started side by side in one test) would tear each other's down.
_MIGRATING = threading.Lock()
# ... and two processes of a cluster started at once on an empty database (two edges, an edge and its
# workers) would both create the schema: on PostgreSQL each migration first takes this lock, so the
# second finds the schema made and has nothing to do.
MIGRATE_LOCK = 0x76_69_67_6D_67  # "vigmg"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run every Alembic migration not yet applied, up to `revision` (an archive is loaded into the
    schema it was written from, then brought up to date with the data in it: store/archive.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATING, engine.begin() as conn:
        hold_until_commit(conn, MIGRATE_LOCK)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def known_revisions() -> list[str]:
    """This version's schema revisions, oldest first."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    found = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    return list(reversed(found))


class Checkpointer:
    """Copies SQLite's WAL back into the database file from its own thread and connection, every
    second, in PASSIVE mode: it never blocks the writer, and the writer never pays for it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vigil-checkpoint", daemon=True)

    def start(self) -> None:
        if self._engine.dialect.name == "sqlite":
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(CHECKPOINT_EVERY_S):
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:
                log.exception("WAL checkpoint failed; the backstop in the writer still bounds the WAL")


def hold_until_commit(conn: Connection, key: int) -> bool:
    """On PostgreSQL, wait for the advisory lock `key` and hold it to the end of `conn`'s
    transaction, so that processes of a cluster doing the same write take turns; True when taken.
    SQLite has one writer at a time already: nothing to take (False)."""
    if conn.dialect.name != "postgresql":
        return False
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    return True


@contextmanager
def one_at_a_time(db: Engine, key: int) -> Iterator[bool]:
    """Whether this process may run a periodic job now (the purge, the reminders' sweep): on
    PostgreSQL, while it holds the advisory lock `key` (another process of the cluster holding it:
    False, and that one does the work); on SQLite, always (one process)."""
    if db.dialect.name != "postgresql":
        yield True
        return
    with db.connect() as guard:
        got = bool(guard.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        guard.commit()
        try:
            yield got
        finally:
            if got:
                guard.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                guard.commit()
