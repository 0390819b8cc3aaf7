"""An edge killed (SIGKILL) while GT06 devices are connected to it: they reconnect to the other edge,
send again what was not acknowledged, and every frame an edge acknowledged is in PostgreSQL, once.

Two `vigil edge` processes, each with its GT06 listener on a port of its own, a worker on a thread
of this process, and four simulated GT06 units (login, then position frames, each waiting for its
acknowledgement, as the real ones do); two start on each edge."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster_kit import ThreadWorker
from private_kit import free_port
from restart_kit import PARTITIONS, cluster_env, settings_of, wait_for
from sqlalchemy import func, select

from accounts_kit import provision
from vigil.adapters import gt06
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.database import open_engine
from vigil_sim.tcpbench import POSITION, imei, login_frame, position_frame

pytestmark = [
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
    pytest.mark.postgres,
    pytest.mark.slow,
]

DEVICES = 4
BEFORE = 8  # frames each device has acknowledged before the edge dies
AFTER = 8  # frames each device has acknowledged after
ACK_TIMEOUT_S = 10.0  # a unit that waits longer takes the connection for dead
HOME_LAT, HOME_LON = 37.60, 127.20


@dataclass(frozen=True)
class Edge:
    process: subprocess.Popen[bytes]
    http: str
    gt06_port: int


@pytest.fixture
def edges(database_url: str, nats_url: str, cluster_name: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = cluster_env(database_url, nats_url, cluster_name, tmp_path)
    started: list[Edge] = []
    log = (tmp_path / "edges.log").open("ab")
    try:
        for _ in range(2):
            http_port, gt06_port = free_port(), free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "vigil", "edge", "--host", "127.0.0.1", "--port", str(http_port)],
                env={**env, "VIGIL_GT06_PORT": str(gt06_port)},
                cwd=tmp_path,
                stdout=log,
                stderr=log,
            )
            started.append(Edge(process, f"http://127.0.0.1:{http_port}", gt06_port))
        for edge in started:
            wait_for(lambda edge=edge: _serving(edge), 60, "an edge to serve its API and its GT06 port")
        yield {"env": env, "edges": started}
    finally:
        for edge in started:
            if edge.process.poll() is None:
                edge.process.send_signal(signal.SIGTERM)
        for edge in started:
            try:
                edge.process.wait(15)
            except subprocess.TimeoutExpired:
                edge.process.kill()
        log.close()


def _serving(edge: Edge) -> bool:
    assert edge.process.poll() is None, "an edge exited at start-up (see edges.log)"
    try:
        shown = httpx.get(f"{edge.http}/health", timeout=2, trust_env=False).json()
    except httpx.HTTPError:
        return False
    return shown.get("listeners", {}).get("gt06", {}).get("state") == "listening"


@dataclass
class Unit:
    """A GT06 unit: its frames' times in order, resent until acknowledged, on whichever edge takes it."""

    index: int
    ports: list[int]  # the edges' GT06 ports, its own first
    start: datetime
    acked: list[datetime] = field(default_factory=list)
    serial: int = 0
    reconnects: int = 0
    resent: int = 0
    edge: int = 0  # which of `ports` it is on
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    moved_at: float | None = None  # when it was first acknowledged again after losing its edge
    lost_at: float | None = None

    @property
    def identifier(self) -> str:
        return imei(self.index)

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    async def connect(self) -> None:
        """Log in to an edge, trying the next one whenever one does not answer."""
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.ports[self.edge])
                serial = self.next_serial()
                writer.write(login_frame(self.identifier, serial))
                reply = await asyncio.wait_for(reader.readexactly(10), ACK_TIMEOUT_S)
                if reply == gt06.ack(gt06.LOGIN, serial):
                    self.reader, self.writer = reader, writer
                    return
                writer.close()
                await writer.wait_closed()
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                pass
            self.edge = (self.edge + 1) % len(self.ports)
            self.reconnects += 1
            await asyncio.sleep(0.2)

    async def send_until_acked(self, at: datetime, lat: float) -> None:
        tries = 0
        while True:
            if self.writer is None:
                await self.connect()
            assert self.reader is not None and self.writer is not None
            serial = self.next_serial()
            tries += 1
            try:
                self.writer.write(position_frame(at, lat, HOME_LON, 0.0, 0.0, serial))
                reply = await asyncio.wait_for(self.reader.readexactly(10), ACK_TIMEOUT_S)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                if self.lost_at is None:
                    self.lost_at = time.monotonic()
                self.writer.close()
                with contextlib.suppress(OSError):
                    await self.writer.wait_closed()
                self.reader = self.writer = None
                self.edge = (self.edge + 1) % len(self.ports)  # the other edge first
                continue
            assert reply == gt06.ack(POSITION, serial), reply.hex()
            self.acked.append(at)
            self.resent += tries - 1
            if self.lost_at is not None and self.moved_at is None:
                self.moved_at = time.monotonic()
            return

    async def report(self, frames: int) -> None:
        for _ in range(frames):
            at = self.start + timedelta(seconds=len(self.acked))
            await self.send_until_acked(at, HOME_LAT + self.index * 0.01 + len(self.acked) * 1e-5)
            await asyncio.sleep(0.05)


def test_devices_of_a_killed_edge_reconnect_to_the_other_and_lose_nothing(
    edges: dict[str, Any], database_url: str
) -> None:
    env, (a, b) = edges["env"], edges["edges"]
    tokens = provision(database_url, (Role.OPERATOR,))
    op = {"Authorization": f"Bearer {tokens[Role.OPERATOR]}"}
    with httpx.Client(base_url=a.http, headers=op, trust_env=False, timeout=30) as api:
        for i in range(DEVICES):
            kind, person = ("subjects", f"S{i}") if i % 2 == 0 else ("protected-persons", f"P{i}")
            body = {"name": f"person {i}"} | ({"legal_basis": "parole"} if kind == "subjects" else {})
            assert api.put(f"/v1/{kind}/{person}", json=body).status_code == 201
            device = {
                "kind": "ankle_monitor" if kind == "subjects" else "smartwatch",
                "protocol": "gt06",
                "identifier": imei(i),
                "person_id": person,
            }
            r = api.put(f"/v1/devices/GT-{i}", json=device)
            assert r.status_code == 201, r.text
    worker = ThreadWorker(settings_of(env), "w-edge-loss").start()
    db = open_engine(database_url)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    # devices 0 and 1 on edge A (to be killed), 2 and 3 on edge B
    units = [
        Unit(i, [a.gt06_port, b.gt06_port] if i < 2 else [b.gt06_port, a.gt06_port], start)
        for i in range(DEVICES)
    ]

    async def load() -> float:
        await asyncio.gather(*(u.report(BEFORE) for u in units))
        a.process.send_signal(signal.SIGKILL)  # no goodbye: its connections simply end
        killed_at = time.monotonic()
        await asyncio.gather(*(u.report(AFTER) for u in units))
        for u in units:
            if u.writer is not None:
                u.writer.close()
                await u.writer.wait_closed()
        return killed_at

    try:
        killed_at = asyncio.run(load())
        assert a.process.wait(5) == -signal.SIGKILL
        acked = {(f"GT-{u.index}", at) for u in units for at in u.acked}
        assert len(acked) == DEVICES * (BEFORE + AFTER)

        def stored() -> set[tuple[str, datetime]]:
            with db.connect() as conn:
                rows = conn.execute(select(t.fixes.c.device_id, t.fixes.c.time))
                return {(d, at.astimezone(UTC)) for d, at in rows}

        wait_for(lambda: acked <= stored(), 30, "every acknowledged frame to be stored")
        with db.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(t.fixes)).scalar_one()
        assert rows == len(stored()) == len(acked)  # each once, resent or not
        for u in units[:2]:  # A's devices moved to B and carried on there
            assert u.lost_at is not None and u.moved_at is not None
            assert u.ports[u.edge] == b.gt06_port
        for u in units[2:]:  # B's were never disturbed
            assert u.lost_at is None
        moved = [round(u.moved_at - killed_at, 2) for u in units[:2] if u.moved_at is not None]
        print(
            f"edge killed: its devices acknowledged again on the other edge after {moved} s; "
            f"frames sent again: {sum(u.resent for u in units)}; partitions {PARTITIONS}"
        )
    finally:
        worker.stop()
        db.dispose()
    assert worker.error is None
