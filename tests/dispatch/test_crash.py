"""A real crash: the server is killed (SIGKILL) after an alert is committed and while its push is
unanswered. Started again on the same database, it delivers the push, exactly once by id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dispatch.receiver import Receiver, _free_port
from dispatch.schemas import validate_cloudevent
from vigil.dispatch.signing import new_secret
from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import migrate, open_engine

PATH = "/112"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver({PATH: new_secret()}, validate_cloudevent)
    found.up()
    try:
        yield found
    finally:
        found.down()


def _provision(url: str) -> str:
    db = open_engine(url)
    try:
        migrate(db)
        with db.begin() as conn:
            now = datetime.now(UTC)
            create_user(conn, user_id="op", name="op", role=Role.OPERATOR, now=now)
            return issue_token(conn, role=Role.OPERATOR, now=now, user_id="op")
    finally:
        db.dispose()


def _serve(url: str, port: int, receiver: Receiver, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": url,
        "VIGIL_DISPATCH_URL": receiver.url + PATH,
        "VIGIL_DISPATCH_SECRET": receiver.secrets[PATH],
        "VIGIL_DISPATCH_TIMEOUT_S": "60",  # the push hangs until the server dies
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the server did not start: {log.read_text()}")


@pytest.mark.slow  # a server process killed and started again
def test_a_push_committed_before_a_crash_is_delivered_after_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    token = _provision(url)
    port = _free_port()
    log = tmp_path / "server.log"
    receiver.scripts[PATH].hang_s = 30.0
    server = _serve(url, port, receiver, log)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})
    try:
        assert api.put("/v1/subjects/S1", json={"legal_basis": "parole", "name": "S"}).status_code == 201
        assert api.put("/v1/protected-persons/P1", json={"name": "P"}).status_code == 201
        for device, kind, person in (("AM-1", "ankle_monitor", "S1"), ("W-1", "smartwatch", "P1")):
            assert (
                api.put(f"/v1/devices/{device}", json={"kind": kind, "person_id": person}).status_code == 201
            )
        at = datetime.now(UTC).isoformat()
        fixes = [
            {"device": "W-1", "at": at, "fix": {"lat": 37.6, "lon": 127.2, "accuracy_m": 5}},
            {"device": "AM-1", "at": at, "fix": {"lat": 37.6004, "lon": 127.2, "accuracy_m": 5}},
        ]
        gateway = _device_token(url)
        r = api.post("/v1/devices/messages", json=fixes, headers={"Authorization": f"Bearer {gateway}"})
        assert r.status_code == 200, r.text
        order = {"subject_id": "S1", "protected_person_id": "P1", "violation_distance_m": 100,
                 "warning_distance_m": 1000, "legal_basis": "stalking_provisional_measure"}  # fmt: skip
        assert api.put("/v1/orders/O1", json=order).status_code == 201  # answered after the commit
        deadline = time.monotonic() + 10
        while not receiver.attempts and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.attempts, "the push never left"  # it is in flight, unanswered
    finally:
        server.send_signal(signal.SIGKILL)  # the crash: no shutdown, nothing flushed on the way out
        server.wait(timeout=10)
        api.close()
    assert receiver.events(PATH) == []
    receiver.scripts[PATH].hang_s = 0.0
    server = _serve(url, port, receiver, log)
    try:
        [event] = receiver.wait(PATH, 1)
        assert event["type"] == "org.vigil.alert.opened"
        assert event["id"] == receiver.attempts[0][1]  # the same push, under the same id
        time.sleep(0.5)
        assert len(receiver.events(PATH)) == 1 and receiver.problems == []
    finally:
        server.terminate()
        server.wait(timeout=30)


def _device_token(url: str) -> str:
    db = open_engine(url)
    try:
        with db.begin() as conn:
            return issue_token(conn, role=Role.DEVICE, now=datetime.now(UTC))
    finally:
        db.dispose()
