"""Cluster mode end to end, in one process: an edge (the app) appends device posts to the log, a
worker (on its own thread) judges and stores them in PostgreSQL, and what it commits reaches the
edge's viewers. Real NATS JetStream, real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cluster_kit import ThreadWorker
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accounts_kit import GATEWAY, provision
from dispatch.receiver import Receiver
from vigil.app import create_app
from vigil.config import Settings
from vigil.dispatch.signing import new_secret
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = [pytest.mark.parametrize("backend", ["postgresql"], indirect=True), pytest.mark.postgres]

HOME_LAT, HOME_LON = 37.60, 127.20
M_PER_DEG = 111_195.0


def wait_for(check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A dispatch system on loopback (signatures checked; the formats are checked elsewhere)."""
    found = Receiver({"/112": new_secret()}, lambda _: None)
    found.up()
    try:
        yield found
    finally:
        found.down()


@pytest.fixture
def scene(
    database_url: str, nats_url: str, cluster_name: str, receiver: Receiver
) -> Iterator[dict[str, Any]]:
    tokens = provision(database_url, (Role.OPERATOR, Role.ADMIN))
    settings = Settings.of(
        dispatch_url=receiver.url + "/112",
        dispatch_secret=receiver.secrets["/112"],
        database_url=database_url,
        nats_url=nats_url,
        cluster_name=cluster_name,
        partitions=8,
        worker_lease_s=3.0,
        gt06_port=0,
        watch_port=0,
        teltonika_port=0,
    )
    db = open_engine(database_url)
    yield {"settings": settings, "tokens": tokens, "db": db, "receiver": receiver}
    db.dispose()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _register(client: TestClient, token: str) -> None:
    for path, body in (
        ("/v1/subjects/S1", {"legal_basis": "parole", "name": "subject one"}),
        ("/v1/devices/AM-1", {"kind": "ankle_monitor", "person_id": "S1"}),
        ("/v1/protected-persons/P1", {"name": "person one"}),
        ("/v1/devices/W-1", {"kind": "phone", "person_id": "P1"}),
        (
            "/v1/orders/O1",
            {
                "subject_id": "S1",
                "protected_person_id": "P1",
                "violation_distance_m": 100,
                "warning_distance_m": 1000,
                "legal_basis": "stalking_provisional_measure",
            },
        ),
    ):
        r = client.put(path, json=body, headers=_auth(token))
        assert r.status_code in (200, 201), (path, r.text)


def _fix(device: str, metres_north: float, at: datetime) -> dict[str, Any]:
    return {
        "device": device,
        "at": at.isoformat(),
        "fix": {"lat": HOME_LAT + metres_north / M_PER_DEG, "lon": HOME_LON, "accuracy_m": 5},
    }


def test_reports_go_through_the_log_to_a_worker_that_stores_and_judges_them(scene: dict[str, Any]) -> None:
    settings, tokens, db = scene["settings"], scene["tokens"], scene["db"]
    worker = ThreadWorker(settings, "w-a").start()
    try:
        with TestClient(create_app(settings)) as client:
            _register(client, tokens[Role.OPERATOR])
            now = datetime.now(UTC).replace(microsecond=0)
            watch = f"/v1/stream?token={tokens[Role.OPERATOR]}&purpose=monitoring&reason=watch"
            viewer = client.websocket_connect(watch).__enter__()
            assert viewer.receive_json()["type"] == "hello"
            r = client.post(
                "/v1/devices/messages",
                json=[
                    _fix("W-1", 0, now),
                    _fix("AM-1", 40, now + timedelta(seconds=1)),
                    _fix("NOPE", 0, now),
                ],
                headers=_auth(tokens[GATEWAY]),
            )
            # answered once the log holds them: the unknown device refused at the edge, by field
            assert r.status_code == 422, r.text
            body = r.json()
            assert body["stored"] == 2
            assert [e["field"] for e in body["errors"]] == ["messages[2].device"]

            def stored() -> int:
                with db.connect() as conn:
                    return int(conn.execute(select(func.count()).select_from(t.fixes)).scalar_one())

            wait_for(lambda: stored() == 2)

            def alert() -> Any:
                with db.connect() as conn:
                    return (
                        conn.execute(select(t.alerts.c.kind).where(t.alerts.c.subject_id == "S1"))
                        .scalars()
                        .all()
                    )

            assert "proximity_violation" in wait_for(alert)
            with db.connect() as conn:
                offsets = conn.execute(select(t.cluster_offsets)).all()
            assert offsets and all(o.worker == "w-a" for o in offsets)
            # what the worker committed reached this edge's viewer, over the bus
            kinds: set[str] = set()
            try:
                for _ in range(50):
                    m = viewer.receive_json()
                    kinds.add(m["alert"]["kind"] if m.get("type") == "alert" else m.get("type", ""))
                    if {"proximity_violation", "position"} <= kinds:
                        break
            finally:
                viewer.__exit__(None, None, None)
            assert {"proximity_violation", "position"} <= kinds, kinds
            # the worker that owns the alert pushed it to dispatch
            receiver = scene["receiver"]
            wait_for(lambda: receiver.ids("/112"))
            assert not receiver.problems
            # an operator's step goes to that worker and comes back with its answer
            with db.connect() as conn:
                alert_id = conn.execute(
                    select(t.alerts.c.id).where(t.alerts.c.kind == "proximity_violation")
                ).scalar_one()
            op = _auth(tokens[Role.OPERATOR])
            r = client.post(f"/v1/alerts/{alert_id}/steps", json={"state": "acknowledged"}, headers=op)
            assert r.status_code == 200, r.text
            assert r.json()["alert"]["state"] == "acknowledged"
            r = client.post(f"/v1/alerts/{alert_id}/steps", json={"state": "acknowledged"}, headers=op)
            assert r.status_code == 409, r.text  # the worker's refusal, as the embedded writer says it
            r = client.post("/v1/alerts/no-such/steps", json={"state": "acknowledged"}, headers=op)
            assert r.status_code == 404, r.text
    finally:
        worker.stop()
    assert worker.error is None
