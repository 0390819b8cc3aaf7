"""Databases for tests, made once per session and copied per test.

Migrating a database takes longer than most tests that use it, so each kind of database (migrated;
migrated and provisioned with the API's users and tokens) is built once per backend, as a template,
the first time a test asks for it. A test then gets a copy: SQLite copies the file; PostgreSQL makes
a database with `CREATE DATABASE ... TEMPLATE`, and drops it after the test.

A template holds no audit entries (checked when it is built): the audit chain's key is made beside
each copy by the first server that starts on it, so every test has its own key and anchor files, as
it had when each test migrated its own database. The exception is a kind filled through a running
server (`Kind.audited`: a test module's whole scene, set up once instead of per test): its entries
are chained under the key that server made for the template, so each copy gets a copy of that key
and of its anchor file, beside the copy under the copy's own name, where a server looks for them.

PostgreSQL copies are made one ahead. `CREATE DATABASE ... TEMPLATE` takes a few tenths of a second,
most of it the server writing and syncing the copy, not work in the test's process: so when a test
takes a copy, the next copy of that template is started on a thread of its own while the test runs,
and the test's copy is dropped on that thread after it. Every test still gets a fresh copy of the
template, made before it began; the spares left at the end are dropped with the templates.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from services import service_unavailable
from vigil.notify import vapid
from vigil.store import audit_key
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_WHERE = f"{PG_HOST}:{PG_PORT}"
BACKENDS = ("sqlite", "postgresql")
DB_FILE = "vigil.db"  # the name a test's SQLite copy has in its tmp_path
# The files a server keeps beside a database's audit key (`<base>.key`, `<base>.anchors.jsonl`:
# vigil.store.audit_key.places, with neither named in its settings).
AUDIT_SUFFIXES = (".key", ".anchors.jsonl")


@dataclass(frozen=True)
class Kind:
    """What a template holds: `fill` brings an empty database (its URL) to that state, and returns
    what the tests need to know about it (the tokens it issued, say), shared by every copy."""

    name: str
    fill: Callable[[str], Any]
    # Filled through a running server, so it holds audit entries under the key that server made: the
    # key and anchor files go with every copy (see the module docstring).
    audited: bool = False


def _migrated(url: str) -> None:
    engine = open_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


MIGRATED = Kind("migrated", _migrated)


@dataclass(frozen=True)
class Copy:
    """A test's own database: its URL, and what the template's `fill` returned."""

    url: str
    data: Any


@dataclass(frozen=True)
class _Template:
    where: str  # the SQLite file, or the PostgreSQL database's name
    data: Any
    audit_files: dict[str, bytes] | None = None  # an audited kind's key and anchors, by suffix


class Templates:
    """The session's templates, built on first use, and copies of them. One per session (a fixture
    in tests/conftest.py): PostgreSQL's templates are dropped by `close`."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._session = uuid.uuid4().hex[:8]
        self._built: dict[tuple[str, str], _Template] = {}
        self._kinds: dict[str, Kind] = {}
        self._admin: Any = None  # psycopg connection to the `postgres` database, autocommit
        self._pg_error: Exception | None = None
        # Every statement on the admin connection runs on this one thread, in the order asked: the
        # copy made ahead of each template, and the drops of the copies tests are done with.
        self._pg_thread: ThreadPoolExecutor | None = None
        self._spares: dict[str, Future[str]] = {}  # template name -> its next copy, being made

    # --- copies, per test -----------------------------------------------------------------------

    @contextmanager
    def copy(self, backend: str, kind: Kind, folder: Path) -> Iterator[Copy]:
        """A copy of `kind`'s template on `backend`: a SQLite file in `folder`, or a new PostgreSQL
        database, dropped on leaving."""
        template = self._template(backend, kind)
        if backend == "sqlite":
            url = _sqlite_url(_copy_file(Path(template.where), folder))
            _place_audit_files(template, url)
            yield Copy(url, template.data)
            return
        with self._pg_database(template.where) as url:
            _place_audit_files(template, url)
            yield Copy(url, template.data)

    @contextmanager
    def empty(self, backend: str, folder: Path) -> Iterator[str]:
        """An empty database, not migrated: a SQLite file not made yet, or a new PostgreSQL one."""
        if backend == "sqlite":
            path = folder / DB_FILE
            _refuse_a_second(path)
            yield _sqlite_url(path)
            return
        with self._pg_database(None) as url:
            yield url

    # --- templates, per session -----------------------------------------------------------------

    def _template(self, backend: str, kind: Kind) -> _Template:
        known = self._kinds.setdefault(kind.name, kind)
        assert known is kind, f"two kinds of template are named {kind.name!r}"
        key = (backend, kind.name)
        if key not in self._built:
            self._built[key] = self._build_sqlite(kind) if backend == "sqlite" else self._build_pg(kind)
        return self._built[key]

    def _build_sqlite(self, kind: Kind) -> _Template:
        folder = self._root / kind.name
        folder.mkdir(parents=True)
        path = folder / DB_FILE
        url = _sqlite_url(path)
        try:
            data = kind.fill(url)
            audit_files = _take_audit_files(kind, url)
        except BaseException:
            shutil.rmtree(folder)  # the next test tries again
            raise
        # Fold the WAL into the file and drop it, so the file alone is the whole database.
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        leftovers = sorted(p.name for p in folder.iterdir() if p != path)
        assert not leftovers, f"the {kind.name} template left {leftovers} beside its file"
        return _Template(str(path), data, audit_files)

    def _build_pg(self, kind: Kind) -> _Template:
        name = f"vigil_tmpl_{self._session}_{kind.name}"
        self._on_pg_thread(self._execute, f'CREATE DATABASE "{name}"').result()
        url = _pg_url(name)
        try:
            data = kind.fill(url)  # fill disposes of its engines: a template must have no connections
            audit_files = _take_audit_files(kind, url)
        except BaseException:
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            self._on_pg_thread(self._execute, drop).result()  # the next test tries again
            raise
        return _Template(name, data, audit_files)

    def close(self) -> None:
        """Drop the PostgreSQL templates and their spare copies (SQLite's go with the session's
        temporary folder)."""
        if self._pg_thread is not None:
            for spare in self._spares.values():
                name = _made(spare)
                if name is not None:
                    self._pg_thread.submit(self._execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._spares.clear()
            self._pg_thread.shutdown(wait=True)
            self._pg_thread = None
        if self._admin is None:
            return
        with self._admin:
            for (backend, _), template in self._built.items():
                if backend == "postgresql":
                    self._admin.execute(f'DROP DATABASE IF EXISTS "{template.where}" WITH (FORCE)')
        self._admin = None

    # --- PostgreSQL ------------------------------------------------------------------------------

    @contextmanager
    def _pg_database(self, template: str | None) -> Iterator[str]:
        if template is None:
            name = self._on_pg_thread(self._create, None).result()
        else:
            spare = self._spares.pop(template, None)
            name = _made(spare) if spare is not None else None
            if name is None:  # the first copy of this template (or its spare failed): made now
                name = self._on_pg_thread(self._create, template).result()
            self._spares[template] = self._on_pg_thread(self._create, template)  # the next test's
        try:
            yield _pg_url(name)
        finally:
            self._on_pg_thread(self._execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _on_pg_thread(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        if self._pg_thread is None:
            self._pg_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-copies")
        return self._pg_thread.submit(work, *args)

    def _create(self, template: str | None) -> str:
        name = f"vigil_test_{uuid.uuid4().hex[:16]}"
        self._execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def _execute(self, sql: str) -> None:
        self._connected().execute(sql)

    def _connected(self) -> Any:
        """The admin connection, made once; a server that was not there stays not there for the
        session (skipped, or failed under CI, at once rather than after a timeout per test)."""
        if self._pg_error is not None:
            service_unavailable("PostgreSQL", PG_WHERE, self._pg_error)
        if self._admin is None:
            import psycopg

            try:
                self._admin = psycopg.connect(
                    host=PG_HOST,
                    port=PG_PORT,
                    user=PG_USER,
                    dbname="postgres",
                    autocommit=True,
                    connect_timeout=5,
                )
            except psycopg.Error as exc:
                self._pg_error = exc
                service_unavailable("PostgreSQL", PG_WHERE, exc)
        return self._admin


def _made(spare: Future[str]) -> str | None:
    """The name of the copy a spare made, or None if making it failed (the caller makes another,
    and meets the failure itself: a server gone skips or fails that test, as without spares)."""
    try:
        return spare.result()
    except BaseException:
        return None


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _pg_url(name: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_WHERE}/{name}"


def _copy_file(template: Path, folder: Path) -> Path:
    path = folder / DB_FILE
    _refuse_a_second(path)
    shutil.copyfile(template, path)
    return path


def _refuse_a_second(path: Path) -> None:
    """Two databases asked for by one test would be one file: say so rather than share it."""
    if path.exists():
        raise RuntimeError(f"{path} exists: a test asked for two databases (database_url and another?)")


def _take_audit_files(kind: Kind, url: str) -> dict[str, bytes] | None:
    """An audited kind's key and anchor files, read from where the server that filled the template
    put them (and removed from there: beside a SQLite template nothing may lie but the database, and
    the server's VAPID key is not carried over, so each copy's server makes its own, as a test's
    server always has). Any other kind must hold no audit entries."""
    if not kind.audited:
        _check_unaudited(url)
        return None
    key_file = audit_key.default_key_file(url)
    files = {suffix: key_file.with_suffix(suffix) for suffix in AUDIT_SUFFIXES}
    found = {suffix: path.read_bytes() for suffix, path in files.items() if path.exists()}
    assert ".key" in found, f"the {kind.name} template's server left no audit key at {key_file}"
    for path in (*files.values(), vapid.default_file(url)):
        path.unlink(missing_ok=True)
    return found


def _place_audit_files(template: _Template, url: str) -> None:
    """Where a server looks for the key of the database at `url` (audit_key.default_key_file), a copy
    of the template's key, readable by this user only, and of its anchors."""
    if template.audit_files is None:
        return
    key_file = audit_key.default_key_file(url)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    for suffix, content in template.audit_files.items():
        path = key_file.with_suffix(suffix)
        path.touch(mode=0o600, exist_ok=False)  # a second copy in one place would be two chains' keys
        path.write_bytes(content)


def _check_unaudited(url: str) -> None:
    """A template with audit entries would need its key beside every copy (and one shared key would
    make every test's chain the same chain): keep them out."""
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            entries = conn.execute(select(func.count()).select_from(t.audit_log)).scalar_one()
    finally:
        engine.dispose()
    assert entries == 0, f"a template holds {entries} audit entries"
