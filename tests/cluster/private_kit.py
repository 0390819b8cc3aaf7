"""A NATS server and a PostgreSQL server of the test's own, on free ports, to stop and start again.

The restart tests (test_cluster_restarts.py) take the log or the database away from a running
cluster. They never touch the machine's shared servers (127.0.0.1:4222 and :5432), which other
tests and other sessions use at the same time: each starts private ones here.

* NATS: `nats-server -js -sd <dir> -p <port> -a 127.0.0.1`. JetStream keeps its streams in files
  under `-sd`, and a restart reuses the same directory and port, so the cluster's stream (and the
  leases' bucket) are there again after it, as on a real server.
* PostgreSQL: `initdb` and `pg_ctl` from the server's binaries (PG_BIN, or VIGIL_TEST_PG_BIN, or
  `pg_config --bindir`). The server refuses to run as root; when the tests run as root (this
  machine's sessions do) every command runs as the `postgres` system user through `runuser`, in a
  folder under /tmp that user owns (pytest's tmp_path is root's own, closed to other users). The
  socket goes to that folder too (-k), away from the shared server's /var/run/postgresql.

Without the binaries the tests skip, or fail under CI=true (tests/services.py), as with the shared
services.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import service_unavailable

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
PG_BIN = Path(os.environ.get("VIGIL_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_SYSTEM_USER = "postgres"  # who runs the server when the tests run as root
START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait(check: object, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout_s:.0f} s")


class PrivateNats:
    """A JetStream server of one test: `start`, `kill` (SIGKILL: no goodbye to its clients),
    `stop` (SIGTERM), and `start` again on the same port and store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = folder / "jetstream"
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "nats.log"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        # "Server is ready" comes after JetStream has read its store back: clients are served. The
        # earlier starts' lines are counted before this one's server runs: it can be ready in a few
        # milliseconds, before a loaded machine gets back to this thread (counted after, its line was
        # taken for an old one and the wait timed out with the server up: a CI failure).
        starts = self.log.read_text(errors="replace").count("Server is ready") if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [NATS_SERVER, "-js", "-sd", str(self.store), "-p", str(self.port), "-a", "127.0.0.1"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait(lambda: self.log.read_text(errors="replace").count("Server is ready") > starts, "nats-server")

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(15)


class PrivatePostgres:
    """A PostgreSQL server of one test (a fresh cluster from initdb), with `stop` (immediate by
    default: a crash, recovered from the WAL at the next start) and `start`."""

    def __init__(self) -> None:
        self.port = free_port()
        self._as: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            owner = pwd.getpwnam(PG_SYSTEM_USER)
            self._as = ["runuser", "-u", PG_SYSTEM_USER, "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        if owner is not None:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"
        self._run(
            PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync",  # only the cluster's creation skips fsync; the server syncs as usual
        )  # fmt: skip

    def _run(self, *argv: object) -> None:
        done = subprocess.run(
            [*self._as, *map(str, argv)], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.folder / "log", "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        try:
            if _listening(self.port):
                self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _need(path: Path | str, service: str) -> None:
    if not Path(path).is_file():
        service_unavailable(service, str(path), "the binary is not installed")


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    """A running JetStream server of this test's own (see the module's docstring)."""
    _need(NATS_SERVER, "nats-server (a private one)")
    server = PrivateNats(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running PostgreSQL server of this test's own (see the module's docstring)."""
    _need(PG_BIN / "initdb", "PostgreSQL's initdb (a private server)")
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user(PG_SYSTEM_USER)):
        service_unavailable(
            "a private PostgreSQL", "runuser -u postgres", "root, and no `postgres` user to run it as"
        )
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
