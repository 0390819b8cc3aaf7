"""The revocation signal (store/revocations.py): told to every engine on the database once the
revoking transaction commits, never before and never for one rolled back; the SQLite file read line by
line (a line still being written waits, a new file means everything); PostgreSQL's listening
connection lost means nothing cached is trusted until it listens again. Both backends."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from vigil.store import revocations
from vigil.store.accounts import revoke_user
from vigil.store.database import open_engine
from vigil.store.revocations import EVERYTHING, Key, Watcher, of_device, of_user

pytestmark = pytest.mark.both_backends  # the revocation signal (NOTIFY, or the SQLite file)

SRC = Path(__file__).resolve().parents[2] / "src" / "vigil"


class Ear:
    """A watcher on its own engine, as a second server process has, and what it heard."""

    def __init__(self, url: str) -> None:
        self.db = open_engine(url)
        self.watcher = Watcher(self.db)
        self.heard: list[Key] = []
        self.watcher.listen(self._hear)

    def _hear(self, keys: Collection[Key]) -> None:
        self.heard += keys

    def news(self) -> list[Key]:
        """Check, and what was heard since the last call, EVERYTHING on (re)connecting left out."""
        self.watcher.check()
        heard, self.heard = [k for k in self.heard if k != EVERYTHING], []
        return heard

    def close(self) -> None:
        self.watcher.close()
        self.db.dispose()


@pytest.fixture
def ear(db: Engine, database_url: str) -> Iterator[Ear]:
    found = Ear(database_url)
    found.news()  # listening (PostgreSQL connects on the first check)
    try:
        yield found
    finally:
        found.close()


def test_told_to_another_engine_after_the_commit_and_not_before(db, ear):
    with db.begin() as conn:
        revocations.announce(conn, of_user("kim"))
        assert ear.news() == []  # not committed: a cache emptied now would reload the old row
    assert ear.news() == [of_user("kim")]
    assert ear.news() == []


def test_a_rolled_back_revocation_is_not_told(db, ear):
    with pytest.raises(RuntimeError), db.begin() as conn:
        revocations.announce(conn, of_user("kim"))
        raise RuntimeError
    with db.begin() as conn:
        revocations.announce(conn, of_user("lee"))
    assert ear.news() == [of_user("lee")]


def test_watchers_on_the_revoking_engine_are_told_at_the_commit_without_a_check(db):
    watcher = Watcher(db)
    heard: list[Key] = []
    watcher.listen(heard.extend)
    watcher.check()
    heard.clear()
    with db.begin() as conn:
        revoke_user(conn, "kim", datetime.now(UTC))
        assert heard == []
    assert heard == [of_user("kim")]
    watcher.close()


def test_commit_as_you_go_is_told_when_the_next_transaction_begins(db, ear):
    with db.connect() as conn:
        revocations.announce(conn, of_device("AM-1"))
        conn.commit()
        conn.execute(text("SELECT 1"))  # begins the next transaction
        assert ear.news() == [of_device("AM-1")]


def test_many_keys_at_once_all_arrive(db, ear):
    keys = [of_user(f"user-{i:04d}-{'x' * 50}") for i in range(500)]
    with db.begin() as conn:
        revocations.announce(conn, *keys)
    assert ear.news() == keys


def test_payloads_fit_a_postgresql_notification():
    keys = [of_user(f"u{i}" * 10) for i in range(2000)]
    payloads = revocations._payloads(keys)
    assert len(payloads) > 1 and all(len(p.encode()) <= 8000 for p in payloads)
    assert [k for p in payloads for k in revocations._decode(p)] == keys


# --- SQLite: the file ---------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vigil.db'}"


def test_the_file_lies_beside_the_database_and_in_memory_has_none(sqlite_url, tmp_path):
    engine = open_engine(sqlite_url)
    assert revocations.signal_file(engine) == tmp_path / "vigil.db-revocations"
    assert revocations.signal_file(create_engine("sqlite://")) is None
    engine.dispose()


def test_a_line_still_being_written_is_read_when_complete(sqlite_url):
    ear = Ear(sqlite_url)
    path = revocations.signal_file(ear.db)
    assert path is not None
    line = revocations._encode([of_user("kim")]).encode()
    with open(path, "ab") as f:
        f.write(line[:5])
    assert ear.news() == []
    with open(path, "ab") as f:
        f.write(line[5:] + b"\n")
    assert ear.news() == [of_user("kim")]
    ear.close()


def test_what_the_file_held_before_the_watcher_started_is_not_news(sqlite_url):
    engine = open_engine(sqlite_url)
    with engine.begin() as conn:
        revocations.announce(conn, of_user("old"))
    ear = Ear(sqlite_url)
    assert ear.watcher.check() and ear.heard == []
    ear.close()
    engine.dispose()


def test_a_new_file_or_a_removed_one_means_everything(sqlite_url, monkeypatch):
    ear = Ear(sqlite_url)
    engine = open_engine(sqlite_url)
    with engine.begin() as conn:
        revocations.announce(conn, of_user("kim"))
    assert ear.watcher.check() and ear.heard == [of_user("kim")]
    ear.heard.clear()
    monkeypatch.setattr(revocations, "ROTATE_BYTES", 1)  # the next append starts a new file
    with engine.begin() as conn:
        revocations.announce(conn, of_user("lee"))
    assert ear.watcher.check() and EVERYTHING in ear.heard
    ear.heard.clear()
    path = revocations.signal_file(engine)
    assert path is not None
    path.unlink()
    assert ear.watcher.check() and ear.heard == [EVERYTHING]
    ear.close()
    engine.dispose()


def test_a_file_that_cannot_be_read_means_nothing_cached_is_trusted(sqlite_url, monkeypatch):
    ear = Ear(sqlite_url)
    engine = open_engine(sqlite_url)
    with engine.begin() as conn:
        revocations.announce(conn, of_user("kim"))
    real_open = os.open

    def refused(path: object, flags: int, *args: object) -> int:
        if str(path).endswith(revocations.FILE_SUFFIX):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    ear.watcher._source._close()  # type: ignore[union-attr]  # as if it never got to open it
    monkeypatch.setattr(os, "open", refused)
    assert ear.watcher.check() is False and EVERYTHING in ear.heard
    assert ear.watcher.check() is False
    monkeypatch.setattr(os, "open", real_open)
    ear.heard.clear()
    assert ear.watcher.check() is True and ear.heard == [EVERYTHING]
    ear.close()
    engine.dispose()


# --- PostgreSQL: the listening connection -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # the listener is PostgreSQL's
def test_a_lost_listener_trusts_nothing_until_it_listens_again(database_url, monkeypatch):
    db = open_engine(database_url)
    ear = Ear(database_url)
    assert ear.watcher.check() is True
    monkeypatch.setattr(revocations, "RELISTEN_EVERY_S", 3600.0)
    with db.begin() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": revocations.LISTENER_NAME},
        )
    ear.heard.clear()
    assert ear.watcher.check() is False and ear.heard == [EVERYTHING]
    assert ear.watcher.check() is False  # not again before RELISTEN_EVERY_S
    ear.watcher._source._retry_at = 0.0  # type: ignore[union-attr]
    ear.heard.clear()
    assert ear.watcher.check() is True and ear.heard == [EVERYTHING]
    ear.close()
    db.dispose()


# --- one way to revoke ----------------------------------------------------------------------------------


def test_tokens_are_revoked_in_one_place_only():
    """Every revocation goes through accounts.revoke, which announces it: a new path cannot forget."""
    writes = {
        str(path.relative_to(SRC)): len(re.findall(r"update\(\s*t\.tokens\b", path.read_text()))
        for path in SRC.rglob("*.py")
    }
    assert {path: n for path, n in writes.items() if n} == {"store/accounts.py": 1}
    accounts = (SRC / "store" / "accounts.py").read_text()
    revoke = accounts[accounts.index("def revoke(") :]
    revoke = revoke[: revoke.index("\ndef ")]
    assert "update(t.tokens)" in revoke and "revocations.announce(" in revoke
