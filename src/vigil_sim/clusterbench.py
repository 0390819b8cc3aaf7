"""`vigil bench --workload w1 --workers 1,2`: workload w1 in the embedded mode and in cluster mode
with 1 and 2 workers, side by side in one run, over HTTP, with the CPU of every role.

For each mode, in order (the embedded mode first, as the baseline):

* **embedded**: `python -m vigil serve` on a fresh SQLite file, as `vigil bench --workload w1`.
* **cluster, N workers**: a fresh PostgreSQL database of its own (created here, dropped at the end)
  and a cluster name of its own; `python -m vigil edge` and N `python -m vigil worker` processes,
  each a process of its own; NATS JetStream is a private `nats-server` started on a free port with a
  store in the run's temporary folder (so its CPU is this run's alone), or `--nats-url`'s.

Then the HTTP bench's load generator (`vigil_sim.loadgen`, 4 connections, batches of 100, its
WebSocket viewer) runs w1's phases against the server or the edge: warm-up (one fix per party),
throughput (`updates` moves at full speed), latency (`updates // 2` moves paced at half the capacity
just measured). It waits for this process at each phase's start and end (`--sync`):

* at the start this process reads each role's CPU time (/proc/PID/stat): the server; or the edge,
  each worker, nats-server (when private) and the PostgreSQL backends serving this run's database
  (`pg_stat_activity`, less this process's own connection);
* at the end, in cluster mode, it takes each partition's last sequence on the log (the edge answered
  every post, so the log holds all of the phase) and waits until `cluster_offsets` in PostgreSQL has
  reached them: the workers have judged and committed all of it. The phase's time runs until then,
  so updates/s is what the workers applied, not what the edge appended; then it reads the CPU again.

Latency: receipt -> alert committed. In the embedded mode the server answers a post after the commit
that holds its alerts, so it is the POST round trip (every batch). In cluster mode the edge answers
once the log holds the post, before a worker judges it; the load generator's bus listener subscribes
to `<cluster>.changes`, on which a worker publishes the alert changes of each batch after its
commit, and each alert change is timed from just before the POST of the latest batch that carried a
move of its pair: an upper bound on received -> committed. Both modes also give the WebSocket
viewer's figure (received -> on the operator's screen).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from vigil.cluster.log import Names
from vigil.dispatch.signing import new_secret
from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import migrate, open_engine
from vigil_sim import bench
from vigil_sim.dispatchbench import ACK_TIMEOUT_S, RECEIVER_PATH, Receiver
from vigil_sim.httpbench import Server
from vigil_sim.loadgen import server_cpu_s, server_memory_mb

PAIRS = 10_000
UPDATES = 200_000
LATENCY_SHARE = 0.5  # the latency phase is paced at this share of the measured capacity
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PARTITIONS = 64
LEASE_S = 6.0
DRAIN_POLL_S = 0.02
DRAIN_TIMEOUT_S = 600.0
PUSH_SETTLE_LIMIT_S = 20.0
# Targets (issue 16, "Speed")
CPU_RATIO_TARGET = 1.5  # the cluster's CPU per update at most this times the embedded mode's
SCALE_TARGET = 1.3  # 2 workers at least this times 1 worker's throughput
EMBEDDED_P99_MS = 20.0
CLUSTER_P99_MS = 50.0
PUSH_P99_MS = 50.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _quiet_env() -> dict[str, str]:
    """Settings every process of a run shares: no device listeners on the protocols' fixed ports
    (other servers on the machine may hold them), warnings only, the bench viewer never dropped."""
    return {
        "VIGIL_LOG_LEVEL": "WARNING",
        "VIGIL_GT06_PORT": "0",
        "VIGIL_WATCH_PORT": "0",
        "VIGIL_TELTONIKA_PORT": "0",
        "VIGIL_STREAM_QUEUE": "1000000",
    }


def seed_registry(url: str, pairs: int) -> dict[str, str]:
    """Migrate `url`, insert w1's registry (`bench.plan`, fixed seed) and two tokens."""
    db = open_engine(url)
    try:
        migrate(db)
        work = bench.plan(pairs, 2 * pairs)
        now = datetime.now(UTC)
        bench.register(db, work, now)
        with db.begin() as conn:
            create_user(conn, user_id="bench-operator", name="bench operator", role=Role.OPERATOR, now=now)
            return {
                "operator": issue_token(conn, role=Role.OPERATOR, now=now, user_id="bench-operator"),
                "device": issue_token(conn, role=Role.DEVICE, now=now),
            }
    finally:
        db.dispose()


# --- PostgreSQL: a database of the run's own ------------------------------------------------------


class PgDatabase:
    """A database created for one mode's run on the admin URL's server, dropped afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.name = f"vigil_bench_{uuid.uuid4().hex[:12]}"
        admin = make_url(admin_url)
        self.url = admin.set(database=self.name).render_as_string(hide_password=False)
        self._admin: Engine = open_engine(admin_url)
        with self._admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self._watch: Engine | None = None

    def backends(self) -> dict[int, float]:
        """CPU seconds of each server process serving this database now (not the bench's own)."""
        if self._watch is None:
            self._watch = open_engine(self.url)
        with self._watch.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                {"db": self.name},
            ).scalars()
            found = {int(pid): server_cpu_s(int(pid)) for pid in pids}
        return {pid: cpu for pid, cpu in found.items() if cpu is not None}

    def offsets(self) -> dict[int, int]:
        if self._watch is None:
            self._watch = open_engine(self.url)
        with self._watch.connect() as conn:
            rows = conn.execute(text("SELECT partition, seq FROM cluster_offsets"))
            return {int(p): int(s) for p, s in rows}

    def drop(self) -> None:
        if self._watch is not None:
            self._watch.dispose()
        with self._admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


# --- NATS -----------------------------------------------------------------------------------------


class PrivateNats:
    """`nats-server -js` on a free port, its store in `folder`: this run's CPU alone."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError("nats-server is not on PATH: pass --nats-url to use a running server")
        self.port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        store = folder / "nats"
        store.mkdir()
        self._log = (folder / "nats.log").open("wb")
        self.process = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the private nats-server did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@contextlib.asynccontextmanager
async def _jetstream(url: str) -> AsyncIterator[Any]:
    """A short-lived connection for the bench's own looks at the cluster (closed afterwards)."""
    import nats

    nc = await nats.connect(url, name="vigil-bench")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def _log_tails(url: str, cluster: str, partitions: int) -> dict[int, int]:
    """Each partition's last sequence on the cluster's log (partitions with nothing left out)."""
    from nats.js.errors import NotFoundError

    names = Names(cluster)
    tails: dict[int, int] = {}
    async with _jetstream(url) as js:
        for p in range(partitions):
            with contextlib.suppress(NotFoundError):
                msg = await js.get_last_msg(names.stream, names.partition_subject(p))
                tails[p] = int(msg.seq or 0)
    return tails


async def _live_workers(url: str, cluster: str) -> int:
    async with _jetstream(url) as js:
        try:
            kv = await js.key_value(Names(cluster).leases)
            return len(await kv.keys())
        except Exception:  # no bucket or no keys yet
            return 0


async def _remove_cluster(url: str, cluster: str) -> None:
    names = Names(cluster)
    async with _jetstream(url) as js:
        for step in (js.delete_stream(names.stream), js.delete_key_value(names.leases)):
            with contextlib.suppress(Exception):
                await step


# --- the dispatch receiver: signed pushes, as a dispatch centre gets them -----------------------------


def _dispatch_env(receiver: Receiver, secret: str) -> dict[str, str]:
    return {
        "VIGIL_DISPATCH_URL": f"{receiver.url}{RECEIVER_PATH}",
        "VIGIL_DISPATCH_SECRET": secret,
        # the receiver does not report back: no violation is escalated (pushed again) in the run
        "VIGIL_DISPATCH_ACK_TIMEOUT_S": str(ACK_TIMEOUT_S),
    }


def _pushes_reader(receiver: Receiver, db_url: str) -> Callable[[], Any]:
    """At the latency phase's end: every verified push so far, once they have settled, as
    (monotonic arrival, "push", type, the alert's subject) for the load generator to time."""

    async def read() -> list[list[Any]]:
        async with httpx.AsyncClient(trust_env=False) as client:
            await receiver.settle(client, want=lambda n: True, limit_s=PUSH_SETTLE_LIMIT_S)
            records = await receiver.records(client)
        subjects = await asyncio.to_thread(_alert_subjects, db_url)
        offset = time.time() - time.monotonic()  # the receiver notes wall-clock time
        return [
            [arrived - offset, "push", kind, subjects.get(alert_id, "")]
            for arrived, _, _, alert_id, kind in records["pushes"]
        ]

    return read


async def _deliveries_settled(db_url: str) -> None:
    """Until no delivery is pending (every push delivered and its attempt recorded), or the limit."""
    db = open_engine(db_url)
    try:
        deadline = time.monotonic() + PUSH_SETTLE_LIMIT_S
        while time.monotonic() < deadline:
            if not await asyncio.to_thread(_pending_deliveries, db):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the warm-up's pushes were not all delivered within {PUSH_SETTLE_LIMIT_S:.0f} s")
    finally:
        db.dispose()


def _pending_deliveries(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM deliveries WHERE state = 'pending'")) or 0)


def _alert_subjects(db_url: str) -> dict[str, str]:
    db = open_engine(db_url)
    try:
        with db.connect() as conn:
            return {str(i): str(s or "") for i, s in conn.execute(text("SELECT id, subject_id FROM alerts"))}
    finally:
        db.dispose()


# --- the roles and their CPU ----------------------------------------------------------------------


@dataclass
class Roles:
    """The processes of one mode, by role, and how to read their CPU."""

    pids: dict[str, int]  # role -> pid: "server", or "edge", "worker 1", ..., "nats"
    pg: PgDatabase | None = None
    samples: dict[str, dict[str, float]] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        """CPU seconds by role now; "postgres" sums by backend pid (kept for the difference)."""
        out: dict[str, float] = {}
        for role, pid in self.pids.items():
            cpu = server_cpu_s(pid)
            if cpu is not None:
                out[role] = cpu
        if self.pg is not None:
            for pid, cpu in self.pg.backends().items():
                out[f"pg:{pid}"] = cpu
        return out

    @staticmethod
    def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
        """CPU seconds by role between two readings; the backends summed as "postgres" (one that
        started meanwhile counts from zero, one that ended is lost: the pools keep theirs open)."""
        out: dict[str, float] = {}
        for role, cpu in after.items():
            used = cpu - before.get(role, 0.0)
            key = "postgres" if role.startswith("pg:") else role
            out[key] = out.get(key, 0.0) + used
        return {k: round(v, 3) for k, v in out.items()}


# --- one mode -------------------------------------------------------------------------------------


def _loadgen_command(url: str, tokens: Mapping[str, str], pairs: int, updates: int, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vigil_sim.loadgen",
        "--url",
        url,
        "--device-token",
        tokens["device"],
        "--operator-token",
        tokens["operator"],
        "--pairs",
        str(pairs),
        "--devices",
        str(2 * pairs),
        "--throughput",
        str(updates),
        "--latency",
        str(updates // 2),
        "--rate-share",
        str(LATENCY_SHARE),
        "--sync",
        "--out",
        str(out),
    ]


async def _drive(
    command: list[str],
    roles: Roles,
    wait_applied: Callable[[], Any] | None,
    quiet: bool,
    pushes: Callable[[], Any] | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Run the load generator; at each phase's start and end read the roles' CPU (and, in cluster
    mode, wait at the end until the workers have applied the phase). At the warm-up's end, also
    wait until the pushes of the alerts it opened have all been delivered and recorded (`db_url`):
    the throughput phase measures the load it sends, not the warm-up's backlog. (The embedded
    server delivers them within the warm-up, its posts being answered after the commits; a
    cluster's edge answers as soon as the log holds a post, and its workers' deliverers were still
    sending and recording the warm-up's 2,700 pushes well into the throughput phase, a quarter of
    a worker's time there: session 16's profile.)"""
    if quiet:
        command = [*command, "--quiet"]
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    cpu: dict[str, dict[str, float]] = {}
    started: dict[str, float] = {}
    waits: dict[str, float] = {}
    before: dict[str, float] = {}
    while True:
        line = await proc.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        answer: dict[str, Any] = {}
        if event["event"] == "start":
            before = roles.read()
            started[event["phase"]] = time.monotonic()
        elif event["event"] == "end":
            if wait_applied is not None:
                began = time.monotonic()
                answer["applied_at"] = await wait_applied()
                waits[event["phase"]] = round(answer["applied_at"] - began, 3)
            if db_url is not None and event["phase"] == "warm-up":
                began = time.monotonic()
                await _deliveries_settled(db_url)
                waits["warm-up pushes"] = round(time.monotonic() - began, 3)
            cpu[event["phase"]] = Roles.spent(before, roles.read())
            if pushes is not None and event["phase"] == "latency":
                answer["pushes"] = await pushes()
        proc.stdin.write((json.dumps(answer) + "\n").encode())
        await proc.stdin.drain()
    code = await proc.wait()
    if code != 0:
        raise RuntimeError(f"the load generator failed ({code})")
    return {"cpu_by_role": cpu, "applied_wait_s": waits}


def _mode_figures(result: dict[str, Any], cpu: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """The figures compared across modes: throughput phase for speed and CPU, latency phase for
    latency."""
    tp = result["phases"]["throughput"]
    lt = result["phases"].get("latency", {})
    tp_cpu = cpu.get("throughput", {})
    stored = tp["stored"] or 1
    per_k = {role: round(1_000_000.0 * s / stored, 1) for role, s in sorted(tp_cpu.items())}
    loadgen = (tp.get("loadgen_cpu_share") or 0.0) + (tp.get("listener_cpu_share") or 0.0)
    return {
        "updates_per_s": tp["fixes_per_s"],
        "throughput_seconds": tp["seconds"],
        "cpu_ms_per_1k_by_role": per_k,
        "cpu_ms_per_1k": round(sum(per_k.values()), 2),
        "cores_busy": round(sum(tp_cpu.values()) / tp["seconds"], 2) if tp["seconds"] else None,
        "cores_busy_by_role": {r: round(s / tp["seconds"], 2) for r, s in sorted(tp_cpu.items())},
        "loadgen_cores": round(loadgen, 2),
        "latency_paced_at": lt.get("paced_at_fixes_per_s"),
        "latency_updates_per_s": lt.get("fixes_per_s"),
        "post_p50_ms": lt.get("post_p50_ms"),
        "post_p99_ms": lt.get("post_p99_ms"),
        "bus_p50_ms": lt.get("bus_p50_ms"),
        "bus_p99_ms": lt.get("bus_p99_ms"),
        "bus_timed": lt.get("bus_timed"),
        "bus_commit_p50_ms": lt.get("bus_commit_p50_ms"),
        "bus_commit_p99_ms": lt.get("bus_commit_p99_ms"),
        "bus_commit_timed": lt.get("bus_commit_timed"),
        "push_p50_ms": lt.get("push_p50_ms"),
        "push_p99_ms": lt.get("push_p99_ms"),
        "push_timed": lt.get("push_timed"),
        "ws_p50_ms": lt.get("delivery_p50_ms"),
        "ws_p99_ms": lt.get("delivery_p99_ms"),
        "alert_messages": result["alert_messages"],
        "errors": sum(p["errors"] + p["failed_batches"] for p in result["phases"].values()),
    }


def run_embedded(pairs: int, updates: int, *, quiet: bool, workdir: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vigil-cbench-", dir=workdir) as name:
        tmp = Path(name)
        url = f"sqlite:///{tmp / 'bench.db'}"
        tokens = seed_registry(url, pairs)
        secret = new_secret()
        receiver = Receiver(secret)
        server: Server | None = None
        try:
            receiver.wait_ready()
            server = Server(url, tmp, env={**_quiet_env(), **_dispatch_env(receiver, secret)})
            startup = server.wait_ready()
            roles = Roles({"server": server.process.pid})
            out = tmp / "loadgen.json"
            command = _loadgen_command(server.url, tokens, pairs, updates, out)
            command += ["--server-pid", str(server.process.pid), "--label", "embedded"]
            driven = asyncio.run(_drive(command, roles, None, quiet, _pushes_reader(receiver, url), url))
            result: dict[str, Any] = json.loads(out.read_text())
            peak = server_memory_mb(server.process.pid)["peak_rss_mb"]
        finally:
            if server is not None:
                server.stop()
            receiver.stop()
    result.update(driven)
    result.update(mode="embedded", workers=0, database="SQLite file", startup_s=round(startup, 2))
    result["peak_rss_mb_by_role"] = {"server": peak}
    result["figures"] = _mode_figures(result, driven["cpu_by_role"])
    return result


class Edge(Server):
    """`python -m vigil edge` (the HTTP bench's server, started as the cluster's edge)."""

    def __init__(self, db_url: str, tmp: Path, env: Mapping[str, str]) -> None:
        super().__init__(db_url, tmp, env=env, role="edge", cwd=tmp)


def run_cluster(
    pairs: int,
    updates: int,
    workers: int,
    *,
    pg_admin_url: str,
    nats_url: str | None,
    quiet: bool,
    workdir: Path | None,
    partitions: int = PARTITIONS,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vigil-cbench-", dir=workdir) as name:
        tmp = Path(name)
        cluster = f"bench{uuid.uuid4().hex[:10]}"
        nats = PrivateNats(tmp) if nats_url is None else None
        url_of_nats = nats.url if nats is not None else str(nats_url)
        pg = PgDatabase(pg_admin_url)
        edge: Edge | None = None
        children: list[subprocess.Popen[bytes]] = []
        logs: list[Any] = []
        secret = new_secret()
        receiver = Receiver(secret)
        try:
            receiver.wait_ready()
            tokens = seed_registry(pg.url, pairs)
            env = {
                **os.environ,
                **_quiet_env(),
                "VIGIL_DATABASE_URL": pg.url,
                "VIGIL_NATS_URL": url_of_nats,
                "VIGIL_CLUSTER_NAME": cluster,
                "VIGIL_PARTITIONS": str(partitions),
                "VIGIL_WORKER_LEASE_S": str(LEASE_S),
                **_dispatch_env(receiver, secret),
            }
            began = time.perf_counter()
            edge = Edge(pg.url, tmp, env)
            edge.wait_ready()  # the edge makes the stream and the leases' bucket
            for i in range(workers):
                log = (tmp / f"worker-{i + 1}.log").open("wb")
                logs.append(log)
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "vigil", "worker"],
                        env=env,
                        cwd=tmp,  # the audit key file of a PostgreSQL database is made under ./var
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            _wait_workers(url_of_nats, cluster, workers, children, tmp)
            startup = time.perf_counter() - began
            pids = {"edge": edge.process.pid}
            pids.update({f"worker {i + 1}": c.pid for i, c in enumerate(children)})
            if nats is not None:
                pids["nats"] = nats.process.pid
            roles = Roles(pids, pg)

            async def wait_applied() -> float:
                tails = await _log_tails(url_of_nats, cluster, partitions)
                deadline = time.monotonic() + DRAIN_TIMEOUT_S
                while time.monotonic() < deadline:
                    done = await asyncio.to_thread(pg.offsets)
                    if all(done.get(p, 0) >= seq for p, seq in tails.items()):
                        return time.monotonic()
                    await asyncio.sleep(DRAIN_POLL_S)
                raise RuntimeError(f"the workers did not apply the log within {DRAIN_TIMEOUT_S:.0f} s")

            out = tmp / "loadgen.json"
            command = _loadgen_command(edge.url, tokens, pairs, updates, out)
            command += ["--server-pid", str(edge.process.pid), "--label", f"{workers} worker(s)"]
            command += ["--bus", url_of_nats, "--bus-subject", Names(cluster).changes]
            driven = asyncio.run(
                _drive(command, roles, wait_applied, quiet, _pushes_reader(receiver, pg.url), pg.url)
            )
            result: dict[str, Any] = json.loads(out.read_text())
            peaks = {role: server_memory_mb(pid)["peak_rss_mb"] for role, pid in pids.items()}
            dead = [i + 1 for i, c in enumerate(children) if c.poll() is not None]
            if dead:
                raise RuntimeError(f"worker(s) {dead} exited during the run:\n{_tail(tmp / 'worker-1.log')}")
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(15.0)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            for log in logs:
                log.close()
            if edge is not None:
                edge.stop()
            receiver.stop()
            if nats is not None:
                nats.stop()
            else:
                asyncio.run(_remove_cluster(url_of_nats, cluster))
            pg.drop()
    result.update(driven)
    result.update(
        mode=f"cluster, {workers} worker{'s' if workers != 1 else ''}",
        workers=workers,
        database="PostgreSQL",
        nats="private nats-server" if nats_url is None else nats_url,
        partitions=partitions,
        startup_s=round(startup, 2),
    )
    result["peak_rss_mb_by_role"] = peaks
    result["figures"] = _mode_figures(result, driven["cpu_by_role"])
    return result


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-3000:]
    return ""


def _wait_workers(
    nats_url: str, cluster: str, count: int, children: Sequence[subprocess.Popen[bytes]], tmp: Path
) -> None:
    """Until every worker holds a lease, then one renewal period more, so each has taken its share
    of the partitions (the warm-up phase then waits until they have applied it)."""
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        for i, child in enumerate(children):
            if child.poll() is not None:
                raise RuntimeError(
                    f"worker {i + 1} exited ({child.returncode}):\n{_tail(tmp / f'worker-{i + 1}.log')}"
                )
        if asyncio.run(_live_workers(nats_url, cluster)) >= count:
            time.sleep(LEASE_S / 3.0 + 1.0)
            return
        time.sleep(0.2)
    raise RuntimeError("the workers did not take their leases within 120 s")


# --- the whole run --------------------------------------------------------------------------------


def run(
    pairs: int = PAIRS,
    updates: int = UPDATES,
    workers: Sequence[int] = (0, 1, 2),
    *,
    pg_admin_url: str = PG_ADMIN_URL,
    nats_url: str | None = None,
    partitions: int = PARTITIONS,
    quiet: bool = False,
    workdir: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    tell = say or (lambda _: None)
    where = Path(workdir) if workdir else None
    load_before = bench._load()
    modes = []
    for n in workers:
        tell(
            f"w1 {pairs:,} pairs, {updates:,} updates: {'embedded' if n == 0 else f'cluster, {n} worker(s)'}"
        )
        if n == 0:
            modes.append(run_embedded(pairs, updates, quiet=quiet, workdir=where))
        else:
            modes.append(
                run_cluster(
                    pairs,
                    updates,
                    n,
                    pg_admin_url=pg_admin_url,
                    nats_url=nats_url,
                    quiet=quiet,
                    workdir=where,
                    partitions=partitions,
                )
            )
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "workload": "w1",
            "pairs": pairs,
            "devices": 2 * pairs,
            "updates": updates,
            "latency_updates": updates // 2,
            "latency_share": LATENCY_SHARE,
            "connections": 4,
            "batch": 100,
            "partitions": partitions,
            "seed": bench.SEED,
        },
        "machine": bench.machine(where or Path(tempfile.gettempdir())),
        "load_average": {"before": load_before, "after": bench._load()},
        "modes": modes,
    }
    result["verdicts"] = verdicts(result)
    return result


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with its figure (None when not measured in this run)."""
    by = {m["workers"]: m["figures"] for m in result["modes"]}
    out: list[dict[str, Any]] = []

    def add(what: str, figure: float | None, target: str, ok: bool | None) -> None:
        out.append({"what": what, "figure": figure, "target": target, "pass": ok})

    base = by.get(0)
    for n, f in sorted(by.items()):
        if n == 0 or base is None:
            continue
        ratio = round(f["cpu_ms_per_1k"] / base["cpu_ms_per_1k"], 2) if base["cpu_ms_per_1k"] else None
        add(
            f"CPU per update, {n} worker(s) / embedded",
            ratio,
            f"<= {CPU_RATIO_TARGET}",
            _le(ratio, CPU_RATIO_TARGET),
        )
    if 1 in by and 2 in by and by[1]["updates_per_s"]:
        scale = round(by[2]["updates_per_s"] / by[1]["updates_per_s"], 2)
        add("throughput, 2 workers / 1 worker", scale, f">= {SCALE_TARGET}", scale >= SCALE_TARGET)
    for n, f in sorted(by.items()):
        if n == 0:
            p99 = f["post_p99_ms"]
            add(
                "embedded: p99 received -> committed (POST), ms",
                p99,
                f"<= {EMBEDDED_P99_MS}",
                _le(p99, EMBEDDED_P99_MS),
            )
        else:
            # every report's commit (its position on the bus), as the embedded figure is every
            # post's; the alert changes alone are the same event for far fewer reports
            p99 = f.get("bus_commit_p99_ms")
            add(
                f"{n} worker(s): p99 received -> committed (bus), ms",
                p99,
                f"<= {CLUSTER_P99_MS}",
                _le(p99, CLUSTER_P99_MS),
            )
            add(
                f"{n} worker(s): the same, alert changes only, ms",
                f["bus_p99_ms"],
                f"<= {CLUSTER_P99_MS}",
                _le(f["bus_p99_ms"], CLUSTER_P99_MS),
            )
        push = f.get("push_p99_ms")
        add(
            f"{'embedded' if n == 0 else f'{n} worker(s)'}: p99 received -> signed push received, ms",
            push,
            f"<= {PUSH_P99_MS}",
            _le(push, PUSH_P99_MS),
        )
    return out


def _le(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


# --- printing -------------------------------------------------------------------------------------


def _n(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    p = result["parameters"]
    lines = [
        f"vigil bench --workload w1 --workers, {result['date']}",
        f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['ram_gib']} GiB RAM; "
        f"Python {m['python']}; load average {result['load_average']['before']} before, "
        f"{result['load_average']['after']} after",
        f"workload w1: {p['pairs']:,} pairs, {p['updates']:,} updates at full speed, then "
        f"{p['latency_updates']:,} paced at {p['latency_share']:.0%} of the measured capacity; "
        f"4 connections, batches of {p['batch']}; cluster: {p['partitions']} partitions",
        "",
        f"{'mode':<22} {'updates/s':>9} {'cpu ms/1k':>9} {'cores':>5}  cpu ms/1k by role",
    ]
    for mode in result["modes"]:
        f = mode["figures"]
        roles = ", ".join(f"{r} {v:.1f}" for r, v in f["cpu_ms_per_1k_by_role"].items())
        lines.append(
            f"{mode['mode']:<22} {_n(f['updates_per_s'], 0):>9} {_n(f['cpu_ms_per_1k']):>9} "
            f"{_n(f['cores_busy'], 2):>5}  {roles}"
        )
    lines += [
        "",
        f"{'latency phase':<22} {'paced at':>9} {'POST p50':>8} {'p99':>7} {'commit p50':>10} {'p99':>7} "
        f"{'WS p50':>7} {'p99':>7} {'push p50':>8} {'p99':>7}",
    ]
    for mode in result["modes"]:
        f = mode["figures"]
        commit50 = f["post_p50_ms"] if mode["workers"] == 0 else f.get("bus_commit_p50_ms")
        commit99 = f["post_p99_ms"] if mode["workers"] == 0 else f.get("bus_commit_p99_ms")
        lines.append(
            f"{mode['mode']:<22} {_n(f['latency_paced_at'], 0):>9} {_n(f['post_p50_ms']):>8} "
            f"{_n(f['post_p99_ms']):>7} {_n(commit50):>10} {_n(commit99):>7} {_n(f['ws_p50_ms']):>7} "
            f"{_n(f['ws_p99_ms']):>7} {_n(f.get('push_p50_ms')):>8} {_n(f.get('push_p99_ms')):>7}"
        )
    lines += [
        "received -> committed: embedded, the POST round trip (answered after the commit); cluster, each",
        "report's position on the bus (published with its batch's alert changes after the commit), from",
        "the POST of its pair's latest batch.",
        "",
        f"{'target':<58} {'figure':>8} {'target':>8}  verdict",
    ]
    for v in result["verdicts"]:
        verdict = "n/a" if v["pass"] is None else ("PASS" if v["pass"] else "MISS")
        lines.append(f"{v['what']:<58} {_n(v['figure'], 2):>8} {v['target']:>8}  {verdict}")
    return "\n".join(lines)


def main(
    pairs: int = PAIRS,
    updates: int = UPDATES,
    workers: Sequence[int] = (0, 1, 2),
    *,
    pg_admin_url: str = PG_ADMIN_URL,
    nats_url: str | None = None,
    partitions: int = PARTITIONS,
    out: str | None = None,
) -> int:
    result = run(
        pairs,
        updates,
        workers,
        pg_admin_url=pg_admin_url,
        nats_url=nats_url,
        partitions=partitions,
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report(result), flush=True)
    if out:
        bench.save(result, Path(out))
    return 0
