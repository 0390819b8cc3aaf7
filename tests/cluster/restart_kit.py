"""What the restart tests share: a cluster (an edge in this process, `vigil worker` processes) on given
NATS and PostgreSQL servers, devices that post rounds of fixes and resend whatever was not
acknowledged, and the checks that nothing acknowledged was lost and no alert opened twice."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from accounts_kit import GATEWAY
from vigil.adapters import native
from vigil.commands import Ingest
from vigil.config import Settings
from vigil.store import tables as t

PARTITIONS = 8
LEASE_S = 3.0
HOME_LAT, HOME_LON = 37.60, 127.20
M_PER_DEG = 111_195.0
RETRY_AFTER_S = 0.2  # a device told to retry tries again after this


def wait_for(check: Any, timeout_s: float = 20.0, what: Any = "the condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def cluster_env(database_url: str, nats_url: str, cluster: str, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_NATS_URL": nats_url,
        "VIGIL_CLUSTER_NAME": cluster,
        "VIGIL_PARTITIONS": str(PARTITIONS),
        "VIGIL_WORKER_LEASE_S": str(LEASE_S),
        "VIGIL_AUDIT_KEY": secrets.token_urlsafe(32),
        "VIGIL_AUDIT_ANCHOR_FILE": str(folder / "anchors"),
        "VIGIL_LOG_LEVEL": os.environ.get("VIGIL_TEST_CLUSTER_LOG", "WARNING"),  # INFO to follow a run
    }


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.of(
        database_url=env["VIGIL_DATABASE_URL"],
        nats_url=env["VIGIL_NATS_URL"],
        cluster_name=env["VIGIL_CLUSTER_NAME"],
        partitions=PARTITIONS,
        worker_lease_s=LEASE_S,
        audit_key=env["VIGIL_AUDIT_KEY"],
        audit_anchor_file=env["VIGIL_AUDIT_ANCHOR_FILE"],
        gt06_port=0,
        watch_port=0,
        teltonika_port=0,
    )


@contextmanager
def worker_processes(
    env: dict[str, str], folder: Path, count: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` `vigil worker` processes, stopped with SIGTERM afterwards (SIGKILL if they hang)."""
    log = (folder / "workers.log").open("ab")
    workers = [
        subprocess.Popen([sys.executable, "-m", "vigil", "worker"], env=env, cwd=folder, stderr=log)
        for _ in range(count)
    ]
    try:
        yield workers
    finally:
        stop_processes(workers)
        log.close()


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to those still running, then SIGKILL to any that has not stopped within 15 s."""
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def register(client: TestClient, operator_token: str, pairs: int) -> None:
    op = {"Authorization": f"Bearer {operator_token}"}
    for i in range(pairs):
        for path, body in (
            (f"/v1/subjects/S{i}", {"legal_basis": "parole", "name": f"subject {i}"}),
            (f"/v1/devices/AM-{i}", {"kind": "ankle_monitor", "person_id": f"S{i}"}),
            (f"/v1/protected-persons/P{i}", {"name": f"person {i}"}),
            (f"/v1/devices/W-{i}", {"kind": "phone", "person_id": f"P{i}"}),
            (
                f"/v1/orders/O{i}",
                {
                    "subject_id": f"S{i}",
                    "protected_person_id": f"P{i}",
                    "violation_distance_m": 100,
                    "warning_distance_m": 1000,
                    "legal_basis": "stalking_provisional_measure",
                },
            ),
        ):
            r = client.put(path, json=body, headers=op)
            assert r.status_code in (200, 201), (path, r.status_code, r.text)


@dataclass
class Devices:
    """`pairs` pairs of devices posting one round of fixes at a time through the edge, each round
    sent again until it is acknowledged (what a device does with a report it was told to retry).
    Pair i is 5 km apart until round `near_every * i`, then 40 m apart: its violation opens then,
    so approaches fall before, during and after an outage."""

    client: TestClient
    tokens: dict[str, str]
    pairs: int
    near_every: int = 3
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    rounds: int = 0
    acked: int = 0  # fixes acknowledged (each exactly once: a round is sent until it is)
    answers: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, HTTP status)

    def body(self, k: int) -> list[dict[str, Any]]:
        at = (self.start + timedelta(seconds=k)).isoformat()
        out = []
        for i in range(self.pairs):
            lat = HOME_LAT + i * 0.05  # pairs 5 km from each other
            apart = 40 if k >= self.near_every * i else 5000
            out.append({"device": f"W-{i}", "at": at, "fix": {"lat": lat, "lon": HOME_LON, "accuracy_m": 5}})
            out.append(
                {
                    "device": f"AM-{i}",
                    "at": at,
                    "fix": {"lat": lat + apart / M_PER_DEG, "lon": HOME_LON, "accuracy_m": 5},
                }
            )
        return out

    def send_round(self, mixed: bool = False) -> None:
        """One round, sent until acknowledged: over HTTP or (`mixed`: every other attempt) as the
        frames of units already logged in to the edge's TCP listener reach it (the listener hands
        them to the edge's writer seam, with no token to look up: gateway/intake.py), answered 503
        when that raises."""
        body = self.body(self.rounds)
        headers = {"Authorization": f"Bearer {self.tokens[GATEWAY]}"}
        while True:
            if mixed and len(self.answers) % 2 == 1:
                code, stored = self._hand_over(body)
            else:
                r = self.client.post("/v1/devices/messages", json=body, headers=headers)
                code, stored = r.status_code, (r.json().get("stored") if r.status_code == 200 else None)
            self.answers.append((time.monotonic(), code))
            if code == 200:
                assert stored == len(body), stored
                self.acked += len(body)
                self.rounds += 1
                return
            # told to retry: never a 2xx for what was not stored, nor a 4xx for a good report
            assert code == 503, code
            time.sleep(RETRY_AFTER_S)

    def _hand_over(self, body: list[dict[str, Any]]) -> tuple[int, int | None]:
        services = self.client.app.state.services  # type: ignore[attr-defined]
        received = services.clock()
        decoded = native.decode(json.dumps(body).encode(), received)
        assert not decoded.errors, decoded.errors
        try:
            outcome = services.runner.submit(Ingest(decoded.reports, received)).result(timeout=30)
        except Exception:
            return 503, None
        return (200 if not outcome.errors else 422), outcome.stored

    def acks_between(self, begin: float, end: float) -> int:
        return sum(1 for at, code in self.answers if begin <= at <= end and code == 200)

    def refused_between(self, begin: float, end: float) -> int:
        return sum(1 for at, code in self.answers if begin <= at <= end and code == 503)

    def first_ack_after(self, moment: float) -> float | None:
        return next((at for at, code in self.answers if at >= moment and code == 200), None)


def count(db: Engine, table: Any) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def violations_per_subject(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            select(t.alerts.c.subject_id, func.count())
            .where(t.alerts.c.kind == "proximity_violation")
            .group_by(t.alerts.c.subject_id)
        ).all()
    return {str(s): int(n) for s, n in rows}


def audit_verifies(env: dict[str, str]) -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "audit", "verify"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode == 0, done.stdout + done.stderr
