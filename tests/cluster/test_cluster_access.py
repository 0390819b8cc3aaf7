"""The access matrix and the stream's scopes hold in cluster mode: a representative share of
tests/api/test_access_matrix.py, against an edge (the app in cluster mode) and a worker on a thread.

In cluster mode an edge answers reads from PostgreSQL and writes the registry itself, as the
embedded server does, but device reports go through the log to a worker, and what viewers see comes
back over the bus: the rows below are those whose path differs (a report, her app's position, the
alerts and positions the worker wrote, the live stream) and a few plain reads and writes beside them.

The scene is the matrix's, smaller: S1 (in `u-probation_officer`'s caseload) approaching P1 in
Namyangju (Gyeonggi, the dispatcher's jurisdiction), S2 (another officer's) approaching P2 in Seoul.
No field officer is sent (assignments need the worker that owns the alert, which cluster mode does
not reach yet), so the field officer sees nothing here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cluster_kit import ThreadWorker
from fastapi.testclient import TestClient
from restart_kit import cluster_env, settings_of, wait_for
from sqlalchemy import Connection, select, update
from starlette.websockets import WebSocketDisconnect

from accounts_kit import GATEWAY, provision
from vigil.app import create_app
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

pytestmark = [pytest.mark.parametrize("backend", ["postgresql"], indirect=True), pytest.mark.postgres]

HOME_LAT, HOME_LON = 37.60, 127.20  # Namyangju, Gyeonggi ("31")
SEOUL_LAT, SEOUL_LON = 37.5730, 126.9794  # Jongno-gu ("11010")
M_PER_DEG = 111_195.0
WATCH = {"purpose": "monitoring", "reason": "control-centre watch"}
BOUND = "bound"  # a device token bound to AM-1
ROLES = (
    "operator",
    "probation_officer",
    "police_dispatcher",
    "field_officer",
    "protected_person",
    "admin",
    "auditor",
    GATEWAY,
)
ALL, IN = "all", "in"


@dataclass(frozen=True)
class Row:
    method: str
    inside: str
    outside: str
    expect: dict[str, str]  # role -> ALL | IN; roles not named are refused on both sides
    body_in: Any = None
    body_out: Any = None
    params: dict[str, str] | None = None


SUBJECT = {"legal_basis": "parole", "name": "subject"}


def rows(a1: str, a2: str) -> list[Row]:
    watchers = {"operator": ALL, "probation_officer": IN, "police_dispatcher": IN}
    writers = {"operator": ALL, "probation_officer": IN}
    here = {"lat": HOME_LAT, "lon": HOME_LON}
    return [
        # what the worker wrote, read at the edge
        Row("GET", f"/v1/alerts/{a1}", f"/v1/alerts/{a2}", watchers),
        Row("GET", f"/v1/alerts/{a1}/deliveries", f"/v1/alerts/{a2}/deliveries", watchers),
        Row("GET", "/v1/people/S1/track", "/v1/people/S2/track", watchers, params=WATCH),
        Row(
            "GET",
            "/v1/people/P1/track",
            "/v1/people/P2/track",
            {"operator": ALL, "police_dispatcher": IN},
            params=WATCH,
        ),
        # the registry, read and written at the edge
        Row("GET", "/v1/subjects/S1", "/v1/subjects/S2", watchers),
        Row(
            "GET",
            "/v1/protected-persons/P1",
            "/v1/protected-persons/P2",
            {"operator": ALL, "police_dispatcher": IN},
        ),
        Row(
            "PUT",
            "/v1/subjects/S1",
            "/v1/subjects/S2",
            writers,
            {**SUBJECT, "probation_officer": "u-probation_officer"},
            {**SUBJECT, "probation_officer": "u-po2"},
        ),
        Row(
            "PUT",
            "/v1/devices/AM-3",
            "/v1/devices/AM-4",
            writers,
            {"kind": "ankle_monitor", "person_id": "S1"},
            {"kind": "ankle_monitor", "person_id": "S2"},
        ),
        # her app: her status, and her position through the log
        Row("GET", "/v1/me/status", "/v1/me/status", {"protected_person": ALL}),
        Row("POST", "/v1/me/position", "/v1/me/position", {"protected_person": ALL}, here, here),
        # no records to scope: the role decides
        Row("GET", "/v1/audit", "/v1/audit", {"auditor": ALL}),
        Row("GET", "/v1/users", "/v1/users", {"admin": ALL}),
    ]


def north(metres: float, lat: float = HOME_LAT) -> float:
    return lat + metres / M_PER_DEG


@pytest.fixture
def scene(database_url: str, nats_url: str, cluster_name: str, tmp_path: Any) -> Iterator[dict[str, Any]]:
    def extra(conn: Connection, now: Any, tokens: dict[str, str]) -> None:
        tokens[BOUND] = issue_token(conn, role=Role.DEVICE, now=now, device_id="AM-1")
        conn.execute(update(t.users).where(t.users.c.id == "u-police_dispatcher").values(areas="31"))
        create_user(conn, user_id="u-po2", name="another officer", role=Role.PROBATION_OFFICER, now=now)

    tokens = provision(database_url, [Role(r) for r in ROLES if r != GATEWAY], extra=extra)
    settings = settings_of(cluster_env(database_url, nats_url, cluster_name, tmp_path))
    worker = ThreadWorker(settings, "w-access").start()
    try:
        with TestClient(create_app(settings)) as client:
            api = Api(client, tokens)
            alerts = api.build()
            yield {"api": api, "alerts": alerts}
    finally:
        worker.stop()
    assert worker.error is None


class Api:
    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def auth(self, who: str = "operator") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        return self.client.request(method, path, json=body, params=params, headers=self.auth(who))

    def send(self, *fixes: tuple[str, float, float], who: str = GATEWAY, seconds: float = 0.0) -> Any:
        at = time.time() + seconds
        body = [
            {
                "device": device,
                "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
                + f".{int(at * 1000) % 1000:03d}+00:00",
                "fix": {"lat": lat, "lon": lon, "accuracy_m": 5},
            }
            for device, lat, lon in fixes
        ]
        return self.client.post("/v1/devices/messages", json=body, headers=self.auth(who))

    def fixes_of(self, device: str) -> int:
        db = self.client.app.state.services.db  # type: ignore[attr-defined]
        with db.connect() as conn:
            return len(conn.execute(select(t.fixes.c.time).where(t.fixes.c.device_id == device)).all())

    def build(self) -> dict[str, str]:
        for sid, officer in (("S1", "u-probation_officer"), ("S2", "u-po2")):
            r = self.call("operator", "PUT", f"/v1/subjects/{sid}", {**SUBJECT, "probation_officer": officer})
            assert r.status_code == 201, r.text
        for pid in ("P1", "P2"):
            assert (
                self.call("operator", "PUT", f"/v1/protected-persons/{pid}", {"name": pid}).status_code == 201
            )
        for device, person in {"AM-1": "S1", "W-1": "P1", "AM-2": "S2", "W-2": "P2"}.items():
            kind = "smartwatch" if device.startswith("W") else "ankle_monitor"
            body = {"kind": kind, "person_id": person}
            assert self.call("operator", "PUT", f"/v1/devices/{device}", body).status_code == 201
        for oid, s, p in (("O1", "S1", "P1"), ("O2", "S2", "P2")):
            body = {
                "subject_id": s,
                "protected_person_id": p,
                "violation_distance_m": 100,
                "warning_distance_m": 1000,
                "legal_basis": "stalking_provisional_measure",
            }
            assert self.call("operator", "PUT", f"/v1/orders/{oid}", body).status_code == 201
        r = self.send(
            ("W-1", HOME_LAT, HOME_LON),
            ("AM-1", north(50), HOME_LON),
            ("W-2", SEOUL_LAT, SEOUL_LON),
            ("AM-2", north(50, SEOUL_LAT), SEOUL_LON),
            seconds=-20,
        )
        assert r.status_code == 200, r.text

        def opened() -> dict[str, str] | None:
            found = self.call("operator", "GET", "/v1/alerts").json()
            by_order = {a["order"]: a["id"] for a in found if a["kind"] == "proximity_violation"}
            return {"A1": by_order["O1"], "A2": by_order["O2"]} if {"O1", "O2"} <= set(by_order) else None

        alerts: dict[str, str] = wait_for(opened, 20, "the worker to open both violations")
        db = self.client.app.state.services.db  # type: ignore[attr-defined]
        with db.begin() as conn:  # her own account speaks for P1
            conn.execute(update(t.users).where(t.users.c.id == "u-protected_person").values(person_id="P1"))
        self.client.app.state.services.tokens.clear()  # type: ignore[attr-defined]
        return alerts


def passes(method: str, status: int) -> bool:
    if method == "GET":
        return 200 <= status < 300
    return status not in (401, 403) and status < 500


def test_representative_rows_of_the_matrix_hold_against_an_edge(scene: dict[str, Any]) -> None:
    api, alerts = scene["api"], scene["alerts"]
    wrong = []
    for row in rows(alerts["A1"], alerts["A2"]):
        for who in ROLES:
            expect = row.expect.get(who)
            for side, path, body in (("in", row.inside, row.body_in), ("out", row.outside, row.body_out)):
                should = expect == ALL or (expect == IN and side == "in")
                r = api.call(who, row.method, path, body, row.params)
                if should and not passes(row.method, r.status_code):
                    wrong.append((who, row.method, path, "should pass", r.status_code, r.text[:120]))
                if not should and r.status_code != 403:
                    wrong.append((who, row.method, path, "should be refused", r.status_code, r.text[:120]))
    assert wrong == []
    # lists hold only what each may see: the alerts the worker wrote, read at the edge
    seen = {a["id"] for a in api.call("probation_officer", "GET", "/v1/alerts").json()}
    assert alerts["A1"] in seen and alerts["A2"] not in seen
    people = api.call("police_dispatcher", "GET", "/v1/positions").json()["features"]
    assert {f["properties"]["person"] for f in people} == {"S1", "P1"}


def test_a_device_token_posts_for_its_own_device_only(scene: dict[str, Any]) -> None:
    api = scene["api"]
    before = api.fixes_of("AM-2")
    r = api.send(
        ("AM-1", north(51), HOME_LON), ("AM-2", north(51, SEOUL_LAT), SEOUL_LON), who=BOUND, seconds=1
    )
    # refused at the edge, by field, as the embedded server does: not acknowledged as stored
    assert r.status_code == 422, r.text
    assert r.json()["stored"] == 1
    assert [e["field"] for e in r.json()["errors"]] == ["messages[1].device"]
    wait_for(lambda: api.fixes_of("AM-1") >= 2, 20, "AM-1's own fix to be stored")
    assert api.fixes_of("AM-2") == before


def test_the_stream_carries_each_viewer_only_what_its_scope_allows(scene: dict[str, Any]) -> None:
    api, alerts = scene["api"], scene["alerts"]
    for who in ("protected_person", "auditor", GATEWAY):  # no live map for them
        with pytest.raises(WebSocketDisconnect) as refused, connect(api, who) as ws:
            ws.receive_json()
        assert refused.value.code == 1008
    with (
        connect(api, "probation_officer") as officer,
        connect(api, "police_dispatcher") as dispatcher,
        connect(api, "operator") as operator,
    ):
        for ws in (officer, dispatcher, operator):
            assert ws.receive_json()["type"] == "hello"
        # the others first, stored and published by the worker before S1's, whom all three may see
        r = api.send(
            ("AM-2", north(52, SEOUL_LAT), SEOUL_LON),
            ("W-2", SEOUL_LAT, SEOUL_LON),
            ("W-1", HOME_LAT, HOME_LON),
        )
        assert r.status_code == 200, r.text
        wait_for(
            lambda: api.fixes_of("W-2") >= 2 and api.fixes_of("W-1") >= 2, 20, "the worker to store them"
        )
        assert api.send(("AM-1", north(52), HOME_LON), seconds=1).status_code == 200
        seen = {
            name: watch_until_s1(ws) for name, ws in (("po", officer), ("disp", dispatcher), ("op", operator))
        }
    assert seen["po"][0] == {"S1"}
    assert seen["disp"][0] == {"S1", "P1"}
    assert seen["op"][0] == {"S1", "P1", "S2", "P2"}
    for name in ("po", "disp"):
        assert alerts["A2"] not in seen[name][1]


def connect(api: Api, who: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in {"token": api.tokens[who], **WATCH}.items())
    return api.client.websocket_connect(f"/v1/stream?{query}")


def watch_until_s1(ws: Any) -> tuple[set[str], set[str]]:
    """The people and alerts a viewer is sent, up to S1's position."""
    people: set[str] = set()
    alerts: set[str] = set()
    while "S1" not in people:
        message = ws.receive_json()
        if message["type"] == "position":
            people.add(message["feature"]["properties"]["person"])
        elif message["type"] == "positions":  # the whole map's, batched
            people.update(f["properties"]["person"] for f in message["features"])
        elif message["type"] == "alert":
            alerts.add(message["alert"]["id"])
    return people, alerts
