"""Cluster mode wakes her too: the worker that owns her partition stages her text with the alert
change and sends it after the commit, recorded; the edge shows the record. Real NATS JetStream,
real PostgreSQL, an SMS gateway on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cluster_kit import ThreadWorker
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from private_kit import free_port
from restart_kit import wait_for

from accounts_kit import GATEWAY, provision
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.model import Role

pytestmark = [pytest.mark.parametrize("backend", ["postgresql"], indirect=True), pytest.mark.postgres]

HOME_LAT, HOME_LON = 37.60, 127.20
M_PER_DEG = 111_195.0
# one key for the edge and the worker, as a deployment names one (never a file made per process)
VAPID = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    .decode()
)


@pytest.fixture
def texts() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.headers.get("authorization") == "Bearer cluster-sms":
                got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(200)
            else:
                self.send_response(401)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sms", got
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_owning_her_partition_texts_her(
    database_url: str, nats_url: str, cluster_name: str, texts: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = texts
    tokens = provision(database_url, (Role.OPERATOR,))
    settings = Settings.of(
        database_url=database_url, nats_url=nats_url, cluster_name=cluster_name, partitions=4,
        worker_lease_s=3.0, gt06_port=0, watch_port=0, teltonika_port=0,
        sms_url=url, sms_token="cluster-sms", vapid_private_key=VAPID,
    )  # fmt: skip
    op = {"Authorization": f"Bearer {tokens[Role.OPERATOR]}"}
    worker = ThreadWorker(settings, "w-a").start()
    try:
        with TestClient(create_app(settings)) as client:
            for path, body in (
                ("/v1/subjects/S1", {"legal_basis": "parole", "name": "subject one"}),
                ("/v1/devices/AM-1", {"kind": "ankle_monitor", "person_id": "S1"}),
                ("/v1/protected-persons/P1", {"name": "person one", "phone": "010-3333-4444"}),
                ("/v1/devices/W-1", {"kind": "phone", "person_id": "P1"}),
                ("/v1/orders/O1", {"subject_id": "S1", "protected_person_id": "P1", "violation_distance_m": 100,
                                   "warning_distance_m": 1000, "legal_basis": "stalking_provisional_measure"}),
            ):  # fmt: skip
                r = client.put(path, json=body, headers=op)
                assert r.status_code in (200, 201), (path, r.text)
            now = datetime.now(UTC).replace(microsecond=0)
            fixes = [
                {"device": "W-1", "at": now.isoformat(), "fix": {"lat": HOME_LAT, "lon": HOME_LON, "accuracy_m": 5}},
                {"device": "AM-1", "at": (now + timedelta(seconds=1)).isoformat(),
                 "fix": {"lat": HOME_LAT + 40 / M_PER_DEG, "lon": HOME_LON, "accuracy_m": 5}},
            ]  # fmt: skip
            r = client.post(
                "/v1/devices/messages", json=fixes, headers={"Authorization": f"Bearer {tokens[GATEWAY]}"}
            )
            assert r.status_code == 200, r.text
            [text] = wait_for(lambda: list(got))
            assert text["to"] == "010-3333-4444" and "100 m" in text["text"]
            alerts = wait_for(lambda: client.get("/v1/alerts", headers=op).json())
            [alert] = [a for a in alerts if a["kind"] == "proximity_violation"]

            def recorded() -> Any:
                found = client.get(f"/v1/alerts/{alert['id']}/notifications", headers=op).json()
                return [n for n in found if n["state"] == "delivered"]

            [record] = wait_for(recorded)
            assert (record["channel"], record["kind"], record["to"]) == ("sms", "danger", "…4444")
    finally:
        worker.stop()
    assert worker.error is None
