"""A real GT06 unit on an edge's listener in cluster mode: its login and alarm go through the log to
the worker, which opens the tamper alert and puts the monitor in pursuit mode; the command comes back
over the bus to the edge holding the connection and down the same socket. Real NATS, PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_kit import ThreadWorker
from fastapi.testclient import TestClient
from private_kit import free_port
from sqlalchemy import select

from accounts_kit import provision
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = [pytest.mark.parametrize("backend", ["postgresql"], indirect=True), pytest.mark.postgres]

DATA = Path(__file__).parent.parent / "data" / "devices"
IMEI = "864717003283581"


def _vectors() -> dict[str, bytes]:
    """The real frames of the GT06 file, with the acknowledgement each must get (b"": none)."""
    found = {}
    for line in (DATA / "gt06_frames.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            raw = line.split("  #")[0].strip()
            found[raw] = bytes.fromhex(line.rsplit("ack=", 1)[1].strip()) if "ack=" in line else b""
    return found


def _until(sock: socket.socket, end: bytes) -> bytes:
    got = b""
    while not got.endswith(end):
        chunk = sock.recv(1)
        if not chunk:
            break
        got += chunk
    return got


@pytest.fixture
def edge(database_url: str, nats_url: str, cluster_name: str) -> Iterator[dict[str, Any]]:
    tokens = provision(database_url, (Role.OPERATOR,))
    settings = Settings.of(
        database_url=database_url,
        nats_url=nats_url,
        cluster_name=cluster_name,
        partitions=4,
        worker_lease_s=3.0,
        gt06_port=free_port(),
        watch_port=0,
        teltonika_port=0,
    )
    worker = ThreadWorker(settings, "w-dev").start()
    db = open_engine(database_url)
    try:
        with TestClient(create_app(settings)) as client:
            yield {"client": client, "settings": settings, "tokens": tokens, "db": db}
    finally:
        worker.stop()
        db.dispose()


def test_a_strap_alarm_from_a_gt06_unit_raises_tamper_and_brings_the_pursuit_command_back(
    edge: dict[str, Any],
) -> None:
    client, settings = edge["client"], edge["settings"]
    op = {"Authorization": f"Bearer {edge['tokens'][Role.OPERATOR]}"}
    assert (
        client.put("/v1/subjects/S1", json={"legal_basis": "parole", "name": "s"}, headers=op).status_code
        == 201
    )
    body = {"kind": "ankle_monitor", "protocol": "gt06", "identifier": IMEI, "person_id": "S1"}
    assert client.put("/v1/devices/AM-G", json=body, headers=op).status_code == 201
    vectors = _vectors()
    login = next(f for f in vectors if f.startswith("78780d01" + "0" + IMEI[:7]))
    removal = next(f for f in vectors if f.startswith("7878251613020c12"))  # strap removal alarm
    with socket.create_connection(("127.0.0.1", settings.gt06_port), timeout=20) as sock:
        sock.sendall(bytes.fromhex(login))
        assert _until(sock, b"\r\n") == vectors[login]
        sock.sendall(bytes.fromhex(removal))
        assert _until(sock, b"\r\n") == vectors[removal]  # acknowledged once the log holds it
        # the worker raised tamper and queued pursuit mode; the edge holding the socket sends it
        assert b"TIMER,15,15#" in _until(sock, b"\r\n")
    with edge["db"].connect() as conn:
        kinds = conn.execute(select(t.alerts.c.kind).where(t.alerts.c.subject_id == "S1")).scalars().all()
    assert "tamper" in kinds
