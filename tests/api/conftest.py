"""The running application over a real database, with a token for every role, a hand-driven clock,
and a few helpers to set up people and devices.

The users and tokens are provisioned once per session and backend, in a template that each test
copies (`provisioned`; tests/database_kit.py). Its tokens never expire, and its users were made
before any test's clock starts (each test's clock starts at the wall-clock time it begins). Which
backends a test runs on: see tests/conftest.py (SQLite, or both when marked `both_backends`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from api_kit import ENV_PATH, HOME_LAT, HOME_LON, TARGET_PATHS, Clock, north
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select, update

from accounts_kit import GATEWAY, provision
from database_kit import BACKENDS, Copy, Kind, Templates
from dispatch.receiver import Receiver, _free_port
from dispatch.schemas import validate_cap, validate_cloudevent, validate_eido
from vigil.app import create_app
from vigil.config import Settings
from vigil.dispatch.signing import new_secret
from vigil.domain.model import Role
from vigil.serving import Server
from vigil.store import audit_key
from vigil.store import tables as t
from vigil.store.accounts import issue_token
from vigil.store.database import open_engine

USER_ROLES = (
    Role.OPERATOR,
    Role.PROBATION_OFFICER,
    Role.POLICE_DISPATCHER,
    Role.ADMIN,
    Role.FIELD_OFFICER,
    Role.PROTECTED_PERSON,
    Role.AUDITOR,
    Role.POLICE_INVESTIGATOR,
    Role.COURT,
)
BOUND = "bound"  # a device token bound to BOUND_DEVICE
CASELOAD_OF = f"u-{Role.PROBATION_OFFICER.value}"
DISPATCHER = f"u-{Role.POLICE_DISPATCHER.value}"
INVESTIGATOR = f"u-{Role.POLICE_INVESTIGATOR.value}"  # of a Gyeonggi station, like the dispatcher
HOME_AREA = "31"  # Gyeonggi-do: the code prefix of HOME's municipality (Namyangju, 31130)
BOUND_DEVICE = "AM-1"
FIELD_UNIT = f"u-{Role.FIELD_OFFICER.value}"  # the field officer's account: a unit to send


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "app_settings(**overrides): Settings fields for the app_client fixture's app"
    )


class Api:
    """The app under test, its tokens and clock, and shortcuts for the common calls."""

    HOME_LAT, HOME_LON = HOME_LAT, HOME_LON
    north = staticmethod(north)

    def __init__(self, url: str, settings: Settings, clock: Clock, tokens: dict[str, str]) -> None:
        self.url = url
        self.settings = settings
        self.clock = clock
        self.tokens = tokens
        self._stack = ExitStack()
        self._db: Engine | None = None
        self.client: TestClient

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.client = self._stack.enter_context(TestClient(create_app(self.settings, clock=self.clock)))

    def stop(self) -> None:
        self._stack.close()
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def restart(self) -> None:
        """Stop the app (its runner thread and engine) and start a new one on the same database."""
        self.stop()
        self.start()

    @property
    def hub(self) -> Any:
        return self.client.app.state.services.hub  # type: ignore[attr-defined]

    # --- requests -----------------------------------------------------------------------------------

    def auth(self, who: str = Role.OPERATOR) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str = Role.OPERATOR, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth(who), **kw)

    def put(self, path: str, body: Any, who: str = Role.OPERATOR) -> httpx.Response:
        return self.client.put(path, json=body, headers=self.auth(who))

    def post(self, path: str, body: Any = None, who: str = Role.OPERATOR) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.auth(who))

    def send(self, messages: Any, who: str = GATEWAY) -> httpx.Response:
        """Post native device messages."""
        return self.client.post("/v1/devices/messages", json=messages, headers=self.auth(who))

    def at(self, seconds: float = 0.0) -> str:
        """An ISO time `seconds` after the clock's now (negative: before)."""
        return (self.clock() + timedelta(seconds=seconds)).isoformat()

    def fix(self, device: str, lat: float, lon: float = HOME_LON, seconds: float = 0.0, **extra: Any) -> Any:
        return {
            "device": device,
            "at": self.at(seconds),
            "fix": {"lat": lat, "lon": lon, "accuracy_m": 5, **extra},
        }

    # --- setting the scene --------------------------------------------------------------------------

    def subject(self, sid: str = "S1", device: str | None = "AM-1") -> None:
        """A subject (in the caseload of the probation officer `u-probation_officer`) wearing `device`."""
        body = {"legal_basis": "parole", "name": f"subject {sid}", "probation_officer": CASELOAD_OF}
        r = self.put(f"/v1/subjects/{sid}", body)
        assert r.status_code == 201, r.text
        if device:
            r = self.put(f"/v1/devices/{device}", {"kind": "ankle_monitor", "person_id": sid})
            assert r.status_code == 201, r.text

    def protected(self, pid: str = "P1", device: str | None = "W-1") -> None:
        r = self.put(f"/v1/protected-persons/{pid}", {"name": f"person {pid}"})
        assert r.status_code == 201, r.text
        if device:
            r = self.put(f"/v1/devices/{device}", {"kind": "smartwatch", "person_id": pid})
            assert r.status_code == 201, r.text

    def order(
        self, oid: str = "O1", subject: str = "S1", protected: str = "P1", **extra: Any
    ) -> httpx.Response:
        body = {
            "subject_id": subject,
            "protected_person_id": protected,
            "violation_distance_m": 100,
            "warning_distance_m": 1000,
            "legal_basis": "stalking_provisional_measure",
            **extra,
        }
        return self.put(f"/v1/orders/{oid}", body)

    def violation(
        self, oid: str = "O1", s: str = "S1", p: str = "P1", am: str = "AM-1", w: str = "W-1"
    ) -> str:
        """A subject 50 m from his protected person under an order: one open proximity_violation.
        Returns its id."""
        self.subject(s, am)
        self.protected(p, w)
        r = self.send([self.fix(w, HOME_LAT, seconds=-20), self.fix(am, north(50), seconds=-20)])
        assert r.status_code == 200, r.text
        r = self.order(oid, s, p)
        assert r.status_code == 201, r.text
        alerts = [a for a in self.get("/v1/alerts", params={"subject": s}).json() if a["order"] == oid]
        assert [a["kind"] for a in alerts] == ["proximity_violation"], alerts
        return str(alerts[0]["id"])

    def link(self, alert_id: str, unit: str = FIELD_UNIT, who: str = Role.OPERATOR) -> str:
        """Send `unit` to the incident and return the token of the live-track link it is issued."""
        r = self.put(f"/v1/alerts/{alert_id}/assignments/{unit}", None, who)
        assert r.status_code == 200 and r.json()["link"], r.text
        return str(r.json()["link"]["url"]).split("token=")[1]

    # --- looking in the database --------------------------------------------------------------------

    @property
    def db(self) -> Engine:
        if self._db is None:
            self._db = open_engine(self.url)
        return self._db

    def count(self, table: Any, *where: Any) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    def fixes_of(self, device: str) -> list[Any]:
        with self.db.connect() as conn:
            return list(
                conn.execute(select(t.fixes).where(t.fixes.c.device_id == device).order_by(t.fixes.c.time))
            )


def _provision(url: str) -> dict[str, str]:
    """A user and token per role, the gateway token, and a token bound to BOUND_DEVICE. The
    dispatcher's jurisdiction is Gyeonggi, where HOME lies; the probation officer's caseload is the
    subjects `Api.subject` makes. Made now, before the clock of any test that copies it: tokens
    issued this way never expire, so they hold for the whole session."""

    def bound(conn: Connection, at: datetime, tokens: dict[str, str]) -> None:
        tokens[BOUND] = issue_token(conn, role=Role.DEVICE, now=at, device_id=BOUND_DEVICE)
        police = t.users.c.id.in_([DISPATCHER, INVESTIGATOR])
        conn.execute(update(t.users).where(police).values(areas=HOME_AREA))

    return provision(url, USER_ROLES, datetime.now(UTC).replace(microsecond=0), bound)


PROVISIONED = Kind("api", _provision)


@pytest.fixture
def provisioned(backend: str, tmp_path: Path, database_templates: Templates) -> Iterator[Copy]:
    """The test's own database, migrated and provisioned by `_provision` (a copy of the session's
    template): `url`, and `data`, the tokens by role value (plus GATEWAY and BOUND)."""
    with database_templates.copy(backend, PROVISIONED, tmp_path) as copy:
        yield copy


def _api(
    request: pytest.FixtureRequest, provisioned: Copy, start: datetime | None = None, **extra: Any
) -> Api:
    marker = request.node.get_closest_marker("app_settings")
    overrides = {**extra, **(marker.kwargs if marker else {})}
    return _unstarted(provisioned.url, provisioned.data, start, overrides)


def _unstarted(url: str, tokens: dict[str, str], start: datetime | None, overrides: dict[str, Any]) -> Api:
    # Anchors only when a test takes them (app.state.services.anchorer), never on a timer that a busy machine
    # might reach in the middle of a test. No token cache unless a test asks for one (the revocation
    # tests do).
    # Reminders before an order ends likewise only when a test sweeps (order_reminders.remind_now).
    settings = Settings(
        **{
            "database_url": url,
            "token_cache_s": 0,
            "audit_anchor_every_s": 0,
            "order_reminder_every_s": 0,
            **overrides,
        }
    )
    clock = Clock(start or datetime.now(UTC).replace(microsecond=0))
    return Api(url, settings, clock, dict(tokens))  # a test may add tokens of its own


@pytest.fixture
def app_client(request: pytest.FixtureRequest, provisioned: Copy) -> Iterator[Api]:
    """The app, started (lifespan entered) on the test's own migrated database with tokens for every
    role (`provisioned`). Settings may be overridden per test with @pytest.mark.app_settings(...)."""
    api = _api(request, provisioned)
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(
    scope="module",
    params=[pytest.param(b, marks=pytest.mark.postgres) if b == "postgresql" else b for b in BACKENDS],
)
def shared_app(
    request: pytest.FixtureRequest, database_templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """One app per module and backend (SQLite, and PostgreSQL as `slow`, as for `both_backends`), for
    tests that only read what the module's fixture sets up once on it, where each test's own scene
    would be rebuilt for nothing. A test that writes, or counts what others may also have made (the
    audit trail's last entry), takes `app_client` instead."""
    folder = tmp_path_factory.mktemp("shared-app")
    with (
        pytest.MonkeyPatch.context() as patch,
        database_templates.copy(request.param, PROVISIONED, folder) as provisioned,
    ):
        patch.setattr(audit_key, "VAR", folder / "var")  # read once, at the start
        api = _api(request, provisioned)
        api.start()
        try:
            yield api
        finally:
            api.stop()


# --- a module's scene, set up once --------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """What a scene's template holds besides its rows: the tokens (the provisioned ones and any the
    set-up issued), what the module's `build` returned, and the clock's time while it was built."""

    tokens: dict[str, str]
    made: Any
    at: datetime


def scene_kind(name: str, build: Callable[[Api], Any]) -> Kind:
    """A template for a module whose tests each start from the same scene and change it: the
    provisioned users, and whatever `build` makes through a running app (its requests, audited, and
    its own writes to the database), made once per session and backend instead of once per test.
    Each test gets a copy (`scene_app`) and an app started on it, as after a restart: what the app
    knows it reads from the database, and its clock starts where the scene's stood, so the scene's
    times are as new to the test as when each test built its own."""

    def fill(url: str) -> Scene:
        api = _unstarted(url, _provision(url), None, {})
        api.start()
        try:
            made = build(api)
        finally:
            api.stop()
        return Scene(dict(api.tokens), made, api.clock())

    return Kind(name, fill, audited=True)


_SCENES: dict[Callable[[Api], Any], Kind] = {}  # one kind per build function, for the session


@contextmanager
def _scene_app(
    request: pytest.FixtureRequest, kind: Kind, backend: str, folder: Path, templates: Templates
) -> Iterator[tuple[Api, Any]]:
    with templates.copy(backend, kind, folder) as copy:
        scene: Scene = copy.data
        api = _api(request, Copy(copy.url, scene.tokens), scene.at)
        api.start()
        try:
            yield api, scene.made
        finally:
            api.stop()


@pytest.fixture
def scene_of(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, database_templates: Templates
) -> Iterator[Callable[[Callable[[Api], Any]], tuple[Api, Any]]]:
    """`scene_of(build)`: the app, started on the test's own copy of the scene `build` sets up (see
    `scene_kind`; built on first use per session and backend), and what `build` returned. Settings
    may be overridden with @pytest.mark.app_settings(...), as for `app_client`."""
    with ExitStack() as stack:

        def start(build: Callable[[Api], Any]) -> tuple[Api, Any]:
            if build not in _SCENES:
                name = f"scene_{build.__module__}_{build.__qualname__}".replace(".", "_")
                _SCENES[build] = scene_kind(name[:40], build)
            found = _scene_app(request, _SCENES[build], backend, tmp_path, database_templates)
            return stack.enter_context(found)

        yield start


# --- dispatch ---------------------------------------------------------------------------------------


def _validate(event: dict[str, Any]) -> None:
    """The schema checks of tests/dispatch/schemas.py: CloudEvents, CAP (XSD and prose rules), EIDO."""
    validate_cloudevent(event)
    data = event["data"]
    if "cap" in data:
        validate_cap(data["cap"])
    if "eido" in data:
        validate_eido(data["eido"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A dispatch system on loopback, one path per target, each with its own secret."""
    found = Receiver({path: new_secret() for path in TARGET_PATHS}, _validate)
    found.up()
    try:
        yield found
    finally:
        found.down()


@pytest.fixture
def gateway() -> Iterator[Receiver]:
    """An SMS gateway on loopback, for the fallback channel (its own server: it stays up while the
    dispatch receiver is down)."""
    found = Receiver({}, _validate)
    found.up()
    try:
        yield found
    finally:
        found.down()


@pytest.fixture
def dispatch_client(
    request: pytest.FixtureRequest, provisioned: Copy, receiver: Receiver, gateway: Receiver
) -> Iterator[Api]:
    """The app pushing to `receiver`: VIGIL_DISPATCH_URL is its /112 path; the fallback is `gateway`."""
    api = _api(
        request,
        provisioned,
        dispatch_url=receiver.url + ENV_PATH,
        dispatch_secret=receiver.secrets[ENV_PATH],
        fallback_url=gateway.url + "/sms",
        public_url="https://vigil.test",
    )
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def served_client(request: pytest.FixtureRequest, provisioned: Copy, receiver: Receiver) -> Iterator[Api]:
    """The app behind a real uvicorn (vigil.serving.Server) on a free loopback port, pushing to
    `receiver`, with no public URL and a configured port (8000) that is not the one it listens on.
    `client` is an httpx client to it (no `client.app`)."""
    api = _api(
        request,
        provisioned,
        dispatch_url=receiver.url + ENV_PATH,
        dispatch_secret=receiver.secrets[ENV_PATH],
        port=8000,
    )
    port = _free_port()
    server = Server(
        # log_config=None: uvicorn leaves the process's loggers as they are (its default config would
        # stop uvicorn.access propagating, and tests that read logs later in this process would miss)
        uvicorn.Config(
            create_app(api.settings, clock=api.clock), host="127.0.0.1", port=port, log_config=None
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    api.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False)  # type: ignore[assignment]
    try:
        yield api
    finally:
        api.client.close()
        server.should_exit = True
        thread.join(timeout=15)
        if api._db is not None:
            api._db.dispose()
