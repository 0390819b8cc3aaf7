"""The revocation signal: how every process on the database learns, before a revoking call returns,
that tokens were revoked or that what they stand for changed, so that no cache keeps honouring them.

Token look-ups are cached per process (`api.auth.Tokens`): a look-up is a database round trip, and a
device token is checked on every device post. A cache is safe only if it hears of every revocation
before it answers again, whichever process made it (another server on the same PostgreSQL, or the
`vigil` command beside a server on SQLite).

Announcing. Whatever revokes a token or changes what one stands for (a role, a disabled account, a
password, a rotated device) calls `announce(conn, key...)` inside its transaction; `store.accounts`
does so in one place. Nothing is told before the transaction commits (a cache emptied early would
reload the old row and keep it), and everything is told before the revoking call returns:

* PostgreSQL: NOTIFY in the same transaction, which the server delivers at commit to every process
  listening, and drops if the transaction rolls back;
* SQLite (one machine): after the commit, a line appended to a file beside the database
  (`<database>-revocations`), which every process on that file watches;
* this process: the watchers on the same engine are told directly after the commit, so a revoking
  request does not depend on its own notification coming back.

"After the commit" is found with SQLAlchemy's events: `commit` moves what the transaction announced
aside, `rollback` drops it, and it is told when the connection is next used or returned to its pool,
which `engine.begin()` does before the caller goes on.

Watching. A `Watcher` is asked before every cached answer (`check`). On SQLite that is a stat of the
file (about a microsecond; the new lines are read only when it grew). On PostgreSQL it is an empty
statement on the listening connection (tens of microseconds, against several hundred for a look-up),
because only a round trip proves that every notification committed before it has arrived; checks
made while one is under way share the next. When it cannot know (the listening connection is lost,
the file cannot be read) it says so, and the cache looks every token up until it can, then forgets
everything: it may have missed news."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, event, func
from sqlalchemy import select as sql_select

log = logging.getLogger(__name__)

CHANNEL = "vigil_revocations"
LISTENER_NAME = "vigil revocations"  # the listening connection, as pg_stat_activity shows it
FILE_SUFFIX = "-revocations"
# The file is started afresh past this size; a watcher seeing a new file forgets everything once.
ROTATE_BYTES = 16 * 1024 * 1024
RELISTEN_EVERY_S = 1.0  # while the listening connection is lost, how often to try again
_PAYLOAD_BYTES = 7000  # PostgreSQL takes up to 8000 bytes per notification
_EMPTY_QUERY = 0  # libpq's PGRES_EMPTY_QUERY: the answer to an empty statement
_PENDING = "vigil.revocations.pending"  # in Connection.info: announced in the open transaction
_COMMITTED = "vigil.revocations.committed"  # committed (or committing), not yet told


class Key(NamedTuple):
    """What turned stale: the tokens of a user, of a login session (its family), of a device, one
    token (by its SHA-256), or everything."""

    kind: str
    id: str = ""


EVERYTHING = Key("all")


def of_user(user_id: str) -> Key:
    return Key("user", user_id)


def of_family(family: str) -> Key:
    return Key("family", family)


def of_device(device_id: str) -> Key:
    return Key("device", device_id)


def of_token(token_hash: str) -> Key:
    return Key("token", token_hash)


Hear = Callable[[Collection[Key]], None]


# --- announcing -------------------------------------------------------------------------------------


def announce(conn: Connection, *keys: Key) -> None:
    """Tell every process on this database, once this transaction commits, that what `keys` name is
    stale. Safe to over-announce: a cache only looks the token up again."""
    if not keys:
        return
    _signal(conn.engine)
    if not conn.in_transaction():
        conn.begin()  # what autobegin would do: the keys are told when the caller commits
    if conn.dialect.name == "postgresql":
        for payload in _payloads(keys):
            conn.execute(sql_select(func.pg_notify(CHANNEL, payload)))
    conn.info.setdefault(_PENDING, []).extend(keys)


class _Signal:
    """One engine's side of the signal: the file to append to (SQLite on disk) and the watchers of
    this process. Holds no reference to the engine, so an engine no one uses is collected."""

    def __init__(self, engine: Engine) -> None:
        self.path = signal_file(engine)
        self.watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()

    def committing(self, conn: Connection) -> None:
        pending = conn.info.pop(_PENDING, None)
        if pending:
            conn.info.setdefault(_COMMITTED, []).extend(pending)

    def rolled_back(self, conn: Connection) -> None:
        conn.info.pop(_PENDING, None)

    def begun(self, conn: Connection) -> None:
        self._tell(conn.info)

    def checked_in(self, _dbapi: Any, record: Any) -> None:
        if record is not None:
            self._tell(record.info)

    def _tell(self, info: dict[Any, Any]) -> None:
        keys = info.pop(_COMMITTED, None)
        if not keys:
            return
        if self.path is not None:
            try:
                _append(self.path, keys)
            except OSError:
                # The commit stands; the other processes on this file keep their caches for at most
                # token_cache_s. Loud, because that is what this module exists to prevent.
                log.exception("could not append to %s: other processes may honour revoked tokens", self.path)
        for watcher in list(self.watchers):
            try:
                watcher.hear(keys)
            except Exception:
                # Raised here, it would fail a committed transaction; the watcher hears it again
                # from the file or the notification at its next check.
                log.exception("a token cache could not be told of a revocation")


_signals: weakref.WeakKeyDictionary[Engine, _Signal] = weakref.WeakKeyDictionary()
_signals_lock = threading.Lock()


def _signal(engine: Engine) -> _Signal:
    """The engine's signal, its listeners installed on first use (a connection already open joins
    the engine's listeners, so installing them inside a transaction is in time)."""
    with _signals_lock:
        found = _signals.get(engine)
        if found is None:
            found = _signals[engine] = _Signal(engine)
            event.listen(engine, "commit", found.committing)
            event.listen(engine, "rollback", found.rolled_back)
            event.listen(engine, "begin", found.begun)
            event.listen(engine, "checkin", found.checked_in)
        return found


def signal_file(engine: Engine) -> Path | None:
    """The file beside a SQLite database that carries its revocations; None for an in-memory one (one
    process only) and for other databases."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(os.path.abspath(database + FILE_SUFFIX))


def _encode(keys: Iterable[Key]) -> str:
    return json.dumps([[k.kind, k.id] for k in keys], separators=(",", ":"))


def _decode(text: str | bytes) -> list[Key]:
    """The keys of one line or notification; anything unreadable means everything."""
    try:
        pairs = json.loads(text)
        return [Key(str(kind), str(ident)) for kind, ident in pairs]
    except (ValueError, TypeError):
        log.warning("unreadable revocation signal %r: forgetting every cached token", text[:200])
        return [EVERYTHING]


def _payloads(keys: Collection[Key]) -> list[str]:
    """The keys as notifications small enough for PostgreSQL."""
    payloads: list[str] = []
    batch: list[Key] = []
    for key in keys:
        if len(_encode([*batch, key])) > _PAYLOAD_BYTES:
            if not batch:
                return [_encode([EVERYTHING])]
            payloads.append(_encode(batch))
            batch = []
        batch.append(key)
    if batch:
        payloads.append(_encode(batch))
    return payloads


def _append(path: Path, keys: Collection[Key]) -> None:
    """One line, appended in one write: O_APPEND writes from several processes do not interleave."""
    line = (_encode(keys) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o660)
    try:
        os.write(fd, line)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > ROTATE_BYTES:
        # A new file (a new inode): every watcher forgets everything once, which covers whatever the
        # old file received after they last read it.
        fresh = path.with_name(f"{path.name}.{os.getpid()}.new")
        fresh.write_bytes(b"")
        os.replace(fresh, path)


# --- watching ---------------------------------------------------------------------------------------


class Watcher:
    """One process's ear for revocations on one database. `check()` before every cached answer;
    what it hears goes to the functions given to `listen`."""

    def __init__(self, db: Engine) -> None:
        self._lock = threading.Condition()
        self._hearers: list[Hear] = []
        # Reads of the source, numbered: a check is answered by a read that began after it arrived,
        # and one read answers every check that arrived while the previous one was under way.
        self._begun = 0
        self._done = 0
        self._reading = False
        self._source: _Source | None = None
        if db.dialect.name == "postgresql":
            self._source = _Notifications(db)
        else:
            path = signal_file(db)
            self._source = _File(path) if path is not None else None
        _signal(db).watchers.add(self)

    def listen(self, hear: Hear) -> None:
        with self._lock:
            self._hearers.append(hear)

    def hear(self, keys: Collection[Key]) -> None:
        """Revocations made in this process, told after their commit."""
        with self._lock:
            self._tell(keys)

    def check(self) -> bool:
        """Take in every revocation announced before this call; False when that cannot be known
        (then nothing cached may be trusted)."""
        source = self._source
        if source is None or source.quiet():
            return True
        with self._lock:
            wanted = self._begun + 1
            while self._done < wanted:
                if self._reading:
                    self._lock.wait()
                    continue
                self._reading = True
                self._begun += 1
                reading = self._begun
                try:
                    self._lock.release()  # checks arriving meanwhile wait for the next read
                    try:
                        news = source.read()
                    finally:
                        self._lock.acquire()
                    self._tell(news)
                    source.settle()
                finally:
                    self._done, self._reading = reading, False
                    self._lock.notify_all()
            return not source.blind

    def close(self) -> None:
        if self._source is not None:
            with self._lock:
                self._lock.wait_for(lambda: not self._reading)
                self._source.close()

    def _tell(self, keys: Collection[Key]) -> None:
        if keys:
            for hear in self._hearers:
                hear(keys)


class _Source:
    blind: bool = False  # True: news may have been missed; nothing cached may be trusted

    def quiet(self) -> bool:
        """Nothing new, known without a lock."""
        return False

    def read(self) -> list[Key]:
        raise NotImplementedError

    def settle(self) -> None:
        """Called once what `read` returned has been told: only now may `quiet` say nothing is new."""

    def close(self) -> None:
        pass


class _File(_Source):
    """The SQLite signal file: the complete lines added since the last read. The file is kept open, so
    its inode cannot be reused while watched: a new inode at the path means a new file."""

    _UNKNOWN = (-1, -1, -1)  # a stamp no stat matches: `quiet` never says so while blind

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) of the open file
        self._offset = 0  # read up to here
        self._seen: tuple[int, int, int] | None = None  # the stat `quiet` expects; None: no file
        self._next: tuple[int, int, int] | None = None
        # News starts now: what the file holds already was told before this cache held anything.
        try:
            self._open(at_end=True)
        except FileNotFoundError:
            pass
        except OSError:
            self._broke()
        self.settle()

    def quiet(self) -> bool:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return self._seen is None
        except OSError:
            return False
        return (st.st_dev, st.st_ino, st.st_size) == self._seen

    def read(self) -> list[Key]:
        news: list[Key] = []
        try:
            st = os.stat(self._path)
            if self._file != (st.st_dev, st.st_ino):
                if self._fd is not None or self.blind:
                    news.append(EVERYTHING)  # a new file: the old one may have had lines unread here
                self._close()
                # Everything forgotten covers what the new file holds; a first file is all news.
                self._open(at_end=bool(news))
            assert self._fd is not None
            size = os.fstat(self._fd).st_size
            if size < self._offset:  # cut short in place: what was lost is unknown
                news.append(EVERYTHING)
                self._offset = 0
            data = os.pread(self._fd, size - self._offset, self._offset)
        except FileNotFoundError:
            if self._fd is not None or self.blind:
                news.append(EVERYTHING)  # removed: what it would have said is unknown
            self._close()
            self.blind, self._next = False, None
            return news
        except OSError:
            log.exception("cannot read %s: token look-ups bypass the cache", self._path)
            return [*news, *self._broke()]
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        for line in complete.splitlines():
            if line.strip():
                news += _decode(line)
        self._offset += len(complete)
        self.blind = False
        assert self._file is not None
        self._next = (*self._file, self._offset)
        return news

    def settle(self) -> None:
        self._seen = self._next

    def close(self) -> None:
        self._close()

    def _open(self, *, at_end: bool) -> None:
        fd = os.open(self._path, os.O_RDONLY)
        st = os.fstat(fd)
        self._fd, self._file = fd, (st.st_dev, st.st_ino)
        self._closer = weakref.finalize(self, os.close, fd)  # closed with its watcher if not before
        self._offset = st.st_size if at_end else 0
        self._next = (st.st_dev, st.st_ino, self._offset)

    def _close(self) -> None:
        if self._closer is not None:
            self._closer()
        self._fd, self._file, self._offset, self._closer = None, None, 0, None

    def _broke(self) -> list[Key]:
        self._close()
        self.blind, self._next = True, self._UNKNOWN
        return [EVERYTHING]


class _Notifications(_Source):
    """LISTEN on a connection of its own. Each read is a round trip on it (an empty statement):
    PostgreSQL signals the listeners before it acknowledges a notifying commit, and a listener
    sends what it was signalled before it answers the next statement, so the round trip brings in
    every revocation committed before the read began. (Watching the socket alone is not enough: the
    listener may not have run yet.) The connection is opened on the first read, so an app that
    never serves opens none, and again after it is lost."""

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._conn: Any = None  # the driver's connection (psycopg)
        self._retry_at = 0.0
        self._closer: weakref.finalize[Any, Any] | None = None
        self.blind = True

    def read(self) -> list[Key]:
        if self._conn is None:
            return self._listen()
        news: list[Key] = []
        try:
            pg = self._conn.pgconn
            answer = pg.exec_(b";")
            if answer.status != _EMPTY_QUERY:
                raise ConnectionError(pg.error_message.decode(errors="replace"))
            while (note := pg.notifies()) is not None:
                news += _decode(note.extra)
        except Exception:
            log.warning("the revocation listener lost its connection; looking every token up meanwhile")
            self._drop()
            return [EVERYTHING]
        return news

    def _listen(self) -> list[Key]:
        if time.monotonic() < self._retry_at:
            return []
        self._retry_at = time.monotonic() + RELISTEN_EVERY_S
        try:
            dialect = self._db.dialect
            cargs, cparams = dialect.create_connect_args(self._db.url)
            conn = dialect.connect(*cargs, **{**cparams, "application_name": LISTENER_NAME})
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception:
            log.warning("cannot listen for revocations yet; looking every token up meanwhile", exc_info=True)
            return []
        self._conn, self.blind = conn, False
        self._closer = weakref.finalize(self, conn.close)  # closed with its watcher if not before
        return [EVERYTHING]  # whatever was announced before now is unknown: start clean

    def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        closer, self._conn, self._closer, self.blind = self._closer, None, None, True
        if closer is not None:
            try:
                closer()
            except Exception:
                log.debug("closing the revocation listener failed", exc_info=True)
