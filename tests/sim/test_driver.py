"""The HTTP driver against a real server on a real port: registry writes, native and OsmAnd device
traffic, and a forced incident that the engine turns into an alert.

The server runs uvicorn in a background thread over a SQLite file. Its clock is the simulation's
virtual clock (moved by the test), so a run is deterministic and fix times are never "in the
future" however fast the test drives it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sim_kit import START, caseload, closest_order

from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import migrate, open_engine
from vigil_sim import driver as driver_module
from vigil_sim.devices import Report
from vigil_sim.driver import Driver, DriverStats, RegistrationError, run_live
from vigil_sim.incidents import IncidentKind
from vigil_sim.simulator import Simulation

KNOTS_TO_MPS = 1852.0 / 3600.0


class VirtualClock:
    """The server's clock: set by hand, following a simulation's present, or the wall clock."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sim: Simulation | None = None
        self._wall = False
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            if self._wall:
                return datetime.now(UTC)
            return self._sim.now if self._sim is not None else self._now

    def wall(self) -> None:
        with self._lock:
            self._wall = True

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = at

    def follow(self, sim: Simulation) -> None:
        with self._lock:
            self._sim = sim


@dataclass
class Server:
    url: str
    clock: VirtualClock
    tokens: dict[str, str]

    def driver(self, **kw: Any) -> Driver:
        return Driver(
            self.url, device_token=self.tokens["device"], registry_token=self.tokens["operator"], **kw
        )

    def get(self, path: str, who: str = "operator", **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert r.status_code == 200, r.text
        return r.json()


def _provision(url: str, now: datetime) -> dict[str, str]:
    db = open_engine(url)
    try:
        migrate(db)
        with db.begin() as conn:
            tokens = {}
            for role in (Role.ADMIN, Role.OPERATOR):
                create_user(conn, user_id=role.value, name=role.value, role=role, now=now)
                tokens[role.value] = issue_token(conn, role=role, now=now, user_id=role.value)
            tokens["device"] = issue_token(conn, role=Role.DEVICE, now=now)  # a gateway token
        return tokens
    finally:
        db.dispose()


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    clock = VirtualClock(START.astimezone(UTC))
    tokens = _provision(url, datetime.now(UTC))
    marker = request.node.get_closest_marker("server_settings")
    settings = Settings(database_url=url, token_cache_s=0, **(marker.kwargs if marker else {}))
    app = create_app(settings, clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", clock, tokens)
    finally:
        uv.should_exit = True
        thread.join(timeout=20)
        sock.close()


async def _drive(
    sim: Simulation, drv: Driver, clock: VirtualClock, until: datetime, step_s: float = 15
) -> None:
    """Advance in steps, the server's clock moved along, sending what is due at each step."""
    t = sim.now
    while t < until:
        t = min(until, t + timedelta(seconds=step_s))
        clock.set(t)
        await drv.send(sim.advance(t))


def test_register_loads_the_whole_caseload(server: Server) -> None:
    load = caseload(5, 5)

    async def go() -> None:
        async with server.driver() as drv:
            await drv.register(load)
            await drv.register(load)  # again: updates, still 2xx

    asyncio.run(go())
    assert len(server.get("/v1/subjects", who="operator")) == len(load.subjects)
    assert len(server.get("/v1/protected-persons", who="operator")) == len(load.protected_persons)
    # every device, a subject's second unit (a phone) too
    devices = sum(len(p.devices) for p in load.people.values())
    assert devices > len(load.people)
    assert len(server.get("/v1/devices", who="operator")) == devices
    orders = server.get("/v1/orders", who="operator")
    assert sorted(o["id"] for o in orders) == sorted(o.id for o in load.orders)
    curfews = [(s.id, s.curfew.id) for s in load.subjects if s.curfew is not None]
    assert curfews
    subject_id, zone_id = curfews[0]
    zones = server.get(f"/v1/subjects/{subject_id}", who="operator")["zones"]
    assert [z["kind"] for z in zones if z["id"] == zone_id] == ["inclusion"]


@pytest.mark.server_settings(rate_user_per_s=20, rate_user_burst=10)
def test_registration_slows_down_when_the_server_says_so(server: Server) -> None:
    """A registration burst past the server's rate limit is answered 429 with Retry-After; the
    driver waits as asked and the whole caseload still gets in."""
    load = caseload(5, 5)

    async def go() -> None:
        async with server.driver() as drv:
            await drv.register(load)

    asyncio.run(go())
    assert len(server.get("/v1/subjects")) == 5


def test_register_fails_loudly_on_a_refusal(server: Server) -> None:
    load = caseload(2, 5)

    async def go() -> None:
        drv = Driver(server.url, device_token=server.tokens["device"], registry_token=server.tokens["device"])
        try:
            await drv.register(load)
        finally:
            await drv.aclose()

    with pytest.raises(RegistrationError, match=r"PUT /v1/subjects/S-000001 -> 403"):
        asyncio.run(go())


def test_native_and_osmand_reports_land(server: Server) -> None:
    load = caseload(4, 5)
    sim = Simulation(load, seed=5, start=START, incident_rate=0.0)
    phone = next(p.device.id for p in load.protected_persons if p.device.protocol == "osmand")
    phone_person = next(p.id for p in load.protected_persons if p.device.id == phone)
    until = START + timedelta(minutes=5)
    sent: list[Report] = []

    async def go() -> DriverStats:
        async with server.driver(concurrency=4) as drv:
            await drv.register(load)
            t = sim.now
            while t < until:
                t += timedelta(seconds=30)
                server.clock.set(t)
                reports = sim.advance(t)
                sent.extend(reports)
                await drv.send(reports)
            # One OsmAnd request written out by hand: 10 knots must arrive as 5.14 m/s. Two hours on,
            # so that the jump to its fixed place is a move she could have made (rules/movement.py).
            later = until + timedelta(hours=2)
            server.clock.set(later)
            at = later.timestamp()
            params = [("id", phone), ("timestamp", str(int(at))), ("lat", "37.500000"), ("lon", "127.000000")]
            params += [("accuracy", "8.0"), ("speed", "10.00"), ("bearing", "90.0"), ("batt", "77")]
            await drv.send([Report(later, phone, "osmand", params)])
            return drv.stats

    stats = asyncio.run(go())
    assert {r.protocol for r in sent} == {"native", "osmand"}
    assert stats.refused == 0 and stats.failed == 0, stats.last_error
    assert stats.fixes >= sum(1 for r in sent if r.protocol == "osmand") + 1
    assert stats.requests <= len(sent) + 1  # native reports sent together travel together
    features = server.get("/v1/positions", purpose="monitoring", reason="driver test")["features"]
    people = {f["properties"]["person"] for f in features}
    owner = {p.device.id: p.id for p in load.people.values()}
    located = {owner[r.device_id] for r in sent if _has_fix(r)}
    assert len(located) >= 4
    assert located <= people
    assert phone_person in people
    mine = [f for f in features if f["properties"]["person"] == phone_person]
    assert mine[0]["geometry"]["coordinates"] == [127.0, 37.5]
    assert mine[0]["properties"]["speed_mps"] == pytest.approx(10 * KNOTS_TO_MPS, abs=0.01)


def test_a_forced_namyangju_driven_over_http_raises_a_proximity_alert(server: Server) -> None:
    load = caseload(4, 5)
    order = closest_order(load)
    sim = Simulation(load, seed=5, start=START, incident_rate=0.0)
    sim.force(
        IncidentKind.NAMYANGJU, order.subject_id, START + timedelta(minutes=1), order.protected_person_id
    )

    async def go() -> DriverStats:
        async with server.driver() as drv:
            await drv.register(load)
            await _drive(sim, drv, server.clock, START + timedelta(minutes=13))
            return drv.stats

    stats = asyncio.run(go())
    assert stats.refused == 0 and stats.failed == 0, stats.last_error
    truth = [v for v in sim.truth.proximity_violations if v.order_id == order.id]
    assert truth, "the scripted approach crosses the line"
    alerts = server.get("/v1/alerts", subject=order.subject_id)
    kinds = {a["kind"] for a in alerts if a["order"] == order.id}
    assert "proximity_violation" in kinds, alerts


def test_run_live_follows_the_clock_and_stops(server: Server) -> None:
    load = caseload(3, 5)
    sim = Simulation(load, seed=5, start=START, incident_rate=0.0)
    server.clock.follow(sim)

    async def go() -> DriverStats:
        async with server.driver() as drv:
            await drv.register(load)
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(1.5, stop.set)
            await run_live(sim, drv, stop=stop, speed=120.0, step_s=0.1)
            assert stop.is_set()  # it ran until told to stop, and then stopped
            return drv.stats

    stats = asyncio.run(go())
    virtual = (sim.now - START).total_seconds()
    assert 120 <= virtual <= 400  # ~1.5 s of wall time at 120x
    assert stats.fixes > 0 and stats.refused == 0 and stats.failed == 0, stats.last_error
    assert stats.fixes_per_s(window_s=10.0) > 0


def _has_fix(r: Report) -> bool:
    if isinstance(r.payload, dict):
        return "fix" in r.payload
    return any(k == "lat" for k, _ in r.payload)


# --- retries and refusals, without a server ---------------------------------------------------------


def _report(device: str = "AM-1", protocol: str = "native") -> Report:
    at = datetime(2026, 3, 16, 1, 0, tzinfo=UTC)
    if protocol == "osmand":
        return Report(
            at,
            device,
            "osmand",
            [("id", device), ("timestamp", "1773622800"), ("lat", "37.5"), ("lon", "127")],
        )
    payload = {"device": device, "at": at.isoformat(), "fix": {"lat": 37.5, "lon": 127.0, "accuracy_m": 5}}
    return Report(at, device, "native", payload)


def _mock(answers: list[int]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        code = answers.pop(0) if answers else 200
        return httpx.Response(code, json={"stored": 1, "duplicates": 0, "errors": []})

    return httpx.MockTransport(handle), seen


def _send(transport: httpx.MockTransport, reports: list[Report]) -> DriverStats:
    async def go() -> DriverStats:
        async with Driver(
            "http://vigil.test", device_token="d", registry_token="a", transport=transport
        ) as drv:
            await drv.send(reports)
            return drv.stats

    return asyncio.run(go())


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "RETRY_DELAYS_S", (0.01, 0.01, 0.01))


@pytest.mark.usefixtures("quick_retries")
def test_503_is_retried_until_stored() -> None:
    transport, seen = _mock([503, 503])
    stats = _send(transport, [_report()])
    assert len(seen) == 3
    assert (stats.requests, stats.fixes, stats.refused, stats.failed) == (1, 1, 0, 0)


@pytest.mark.usefixtures("quick_retries")
def test_503_for_ever_counts_as_failed() -> None:
    transport, seen = _mock([503] * 10)
    stats = _send(transport, [_report()])
    assert len(seen) == 4
    assert (stats.fixes, stats.failed) == (0, 1)


@pytest.mark.usefixtures("quick_retries")
def test_a_refusal_is_counted_and_never_retried() -> None:
    transport, seen = _mock([422])
    stats = _send(transport, [_report()])
    assert len(seen) == 1
    assert (stats.requests, stats.refused, stats.fixes) == (1, 1, 0)
    assert "422" in stats.last_error


@pytest.mark.usefixtures("quick_retries")
def test_connection_errors_are_retried_then_counted_as_failed() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    stats = _send(httpx.MockTransport(handle), [_report()])
    assert calls == 4
    assert (stats.requests, stats.failed) == (0, 1)


def test_native_reports_sent_together_go_as_one_body_and_osmand_as_query_pairs() -> None:
    transport, seen = _mock([])
    a, b = _report("AM-1"), _report("AM-1")
    stats = _send(transport, [a, b, _report("AM-2"), _report("P-1", "osmand")])
    assert stats.requests == 3 and stats.fixes == 4
    posts = [r for r in seen if r.method == "POST"]
    assert sorted(len(httpx.Response(200, content=r.content).json()) for r in posts) == [1, 2]
    assert all(r.headers["authorization"] == "Bearer d" for r in posts)
    (get,) = [r for r in seen if r.method == "GET"]
    assert get.url.path == "/osmand"
    assert get.url.params["id"] == "P-1" and get.url.params["token"] == "d"


def test_the_recent_rate_counts_only_the_window() -> None:
    stats = DriverStats(started=100.0)
    stats.add_fixes(50, now=101.0)
    stats.add_fixes(30, now=125.5)
    assert stats.fixes == 80
    assert stats.fixes_per_s(10.0, now=126.0) == pytest.approx(3.0)
    assert stats.fixes_per_s(60.0, now=126.0) == pytest.approx(80 / 26)
