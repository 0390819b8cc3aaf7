"""Browser tests: a real server on a loopback port and Debian's Chromium driven by Playwright (no
browser download: the `chromium` package's executable). Without Chromium the tests skip, except
under CI=true, where they fail (conftest.service_unavailable)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from dispatch.receiver import _free_port
from services import service_unavailable
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import migrate, open_engine

CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "site_settings(**overrides): Settings fields for the `site` server, e.g. access_token_s=2"
    )


DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shoot(page: Any, name: str) -> None:
    """Take a screenshot. It replaces the one in docs/screenshots only when VIGIL_SCREENSHOTS=1, so
    an ordinary test run (and CI) leaves the working tree clean; otherwise it goes to a scratch
    folder, which still proves the page renders."""
    if os.environ.get("VIGIL_SCREENSHOTS") == "1":
        folder = DOCS_SCREENSHOTS
    else:
        folder = Path(tempfile.gettempdir()) / "vigil-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


# A quiet street in Namyangju (Gyeonggi), where the demo's approach happens too.
HOME_LAT, HOME_LON = 37.6360, 127.2165
M_PER_DEG_LAT = 111_195.0


def north(metres: float, lat: float = HOME_LAT) -> float:
    return lat + metres / M_PER_DEG_LAT


@dataclass
class Site:
    """A running server: its URL, a token per role (and a victim's own account bound to P1), and
    shortcuts to set a scene over the REST API as the registry and devices would."""

    url: str
    tokens: dict[str, str]
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def call(self, method: str, path: str, body: Any = None, who: str = "operator") -> httpx.Response:
        r = self.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        assert r.status_code < 400, (method, path, r.status_code, r.text)
        return r

    def fixes(self, *fixes: tuple[str, float, float], seconds_ago: float = 0.0, **extra: Any) -> None:
        at = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()
        body = [{"device": d, "at": at, "fix": {"lat": lat, "lon": lon, "accuracy_m": 8, **extra}}
                for d, lat, lon in fixes]  # fmt: skip
        self.call("POST", "/v1/devices/messages", body, who="gateway")

    def pair(self, subject: str = "S1", victim: str = "P1", *, order: str = "O1") -> None:
        """A subject wearing AM-<n>, his victim carrying a phone, and the order between them."""
        n = subject[1:]
        self.call(
            "PUT",
            f"/v1/subjects/{subject}",
            {"legal_basis": "stalking_provisional_measure", "name": f"Kim {n}"},
        )
        self.call("PUT", f"/v1/protected-persons/{victim}", {"name": f"Lee {n}", "phone": "010-0000-0000"})
        self.call("PUT", f"/v1/devices/AM-{n}", {"kind": "ankle_monitor", "person_id": subject})
        self.call("PUT", f"/v1/devices/PH-{n}", {"kind": "phone", "person_id": victim})
        body = {"subject_id": subject, "protected_person_id": victim, "violation_distance_m": 100,
                "warning_distance_m": 1000, "victim_view_m": 600, "legal_basis": "stalking_provisional_measure",
                "zones": [{"label": "home", "circle": {"lat": HOME_LAT, "lon": HOME_LON, "radius_m": 200}}]}  # fmt: skip
        self.call("PUT", f"/v1/orders/{order}", body)


def _provision(url: str) -> dict[str, str]:
    db = open_engine(url)
    try:
        migrate(db)
        now = datetime.now(UTC)
        tokens: dict[str, str] = {}
        with db.begin() as conn:
            for role in (Role.OPERATOR, Role.PROBATION_OFFICER, Role.POLICE_DISPATCHER, Role.ADMIN):
                create_user(conn, user_id=f"u-{role.value}", name=role.value, role=role, now=now)
                tokens[role.value] = issue_token(conn, role=role, now=now, user_id=f"u-{role.value}")
            create_user(
                conn, user_id="u-victim", name="victim", role=Role.PROTECTED_PERSON, now=now, person_id="P1"
            )
            tokens["victim"] = issue_token(conn, role=Role.PROTECTED_PERSON, now=now, user_id="u-victim")
            tokens["gateway"] = issue_token(conn, role=Role.DEVICE, now=now)
        return tokens
    finally:
        db.dispose()


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The server, with uvicorn on a free loopback port, over a fresh SQLite file. A test marked
    @pytest.mark.site_settings(name=value, ...) gets those Settings instead of the defaults."""
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    tokens = _provision(url)
    port = _free_port()
    marker = request.node.get_closest_marker("site_settings")
    overrides: dict[str, Any] = dict(marker.kwargs) if marker else {}
    settings = Settings(
        **{
            "database_url": url,
            "token_cache_s": 0,
            "host": "127.0.0.1",
            "port": port,
            "public_url": f"http://127.0.0.1:{port}",
            **overrides,
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    found = Site(f"http://127.0.0.1:{port}", tokens)
    try:
        yield found
    finally:
        found.http.close()
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright."""
    if shutil.which(CHROMIUM) is None:
        service_unavailable("Chromium", CHROMIUM, "not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
