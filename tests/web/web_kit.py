"""What the browser tests share: the scene (a quiet street, distances north of it), screen sizes and
waits, the running server's shortcuts (`Site`), and screenshots. A module of its own, not the
conftest, so test files import it by a name no other test folder uses."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import open_engine

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def script_errors(page: Any) -> list[str]:
    """The page's uncaught script errors, as they happen (a refusal the test provokes is logged by
    the browser as a failed load, not as one of these)."""
    found: list[str] = []
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


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


DESK = {"width": 1400, "height": 900}  # the control centre's screen
PHONE = {"width": 390, "height": 844}  # the field terminal's and the victim app's
SOON = 10_000  # ms: live updates arrive within seconds

# A quiet street in Namyangju (Gyeonggi, municipality 31130), where the demo's approach happens too.
HOME_LAT, HOME_LON = 37.6360, 127.2165
M_PER_DEG_LAT = 111_195.0
# The police dispatcher's jurisdiction (conftest): Gyeonggi, so HOME is theirs and Seoul is not.
DISPATCHER_AREAS = "31"

# What the control centre's sign-in asks of everyone who will see people: why, in a code and words.
# The reason is in Korean, as a Korean operator writes it, so it must survive the trip in a header.
PURPOSE = "monitoring"
REASON = "주간 관제 근무 3조"

# Every WebSocket the page opens, so a test can drop one and see which URL the next one uses.
SOCKETS = """
window.__sockets = [];
const Original = window.WebSocket;
window.WebSocket = class extends Original {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""


def state_purpose(page: Any, code: str = PURPOSE, reason: str = REASON) -> None:
    """The control centre's purpose step, which follows every watcher's sign-in."""
    page.get_by_test_id("purpose-select").select_option(code)
    page.get_by_test_id("purpose-reason").fill(reason)
    page.get_by_test_id("purpose-submit").click()


def north(metres: float, lat: float = HOME_LAT) -> float:
    return lat + metres / M_PER_DEG_LAT


@dataclass(frozen=True)
class Pair:
    """A subject wearing an ankle monitor, the victim his order protects carrying a phone, and the
    order between them, numbered together: S<n>, P<n>, AM-<n>, PH-<n>, O<n>."""

    n: int

    @property
    def subject(self) -> str:
        return f"S{self.n}"

    @property
    def victim(self) -> str:
        return f"P{self.n}"

    @property
    def ankle(self) -> str:
        return f"AM-{self.n}"

    @property
    def phone(self) -> str:
        return f"PH-{self.n}"

    @property
    def order(self) -> str:
        return f"O{self.n}"


@dataclass
class Site:
    """A running server: its URL, a token per staff role and the gateway's, and shortcuts to set a
    scene over the REST API as the registry and devices would. A server may be shared by the tests
    of a module: each takes its people and accounts from `pair` and `account`, which never hand out
    the same ids twice on one server."""

    url: str
    tokens: dict[str, str]
    database_url: str
    http: httpx.Client = field(init=False)
    _numbers: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self._numbers = itertools.count(1)

    def close(self) -> None:
        self.http.close()

    def number(self) -> int:
        """A number no other caller on this server has had."""
        return next(self._numbers)

    def account(self, role: Role, person_id: str | None = None, areas: tuple[str, ...] = ()) -> str:
        """A new user of `role` (for a protected person, speaking for `person_id`; for police, of
        `areas`), made straight in the store as an administrator would; returns its id, and its token
        is `tokens[id]`."""
        user = f"u-{role.value}-{self.number()}"
        db = open_engine(self.database_url)
        try:
            with db.begin() as conn:
                now = datetime.now(UTC)
                create_user(
                    conn, user_id=user, name=user, role=role, now=now, person_id=person_id, areas=areas
                )
                self.tokens[user] = issue_token(conn, role=role, now=now, user_id=user)
        finally:
            db.dispose()
        return user

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

    def pair(self, *, officer: str | None = "u-probation_officer") -> Pair:
        """A new subject wearing his ankle monitor, his victim carrying a phone, and the order between
        them, with her home as a zone; the subject is in the probation officer's caseload (conftest's
        u-probation_officer) unless told. On a fresh server the first pair is S1, P1, AM-1, PH-1, O1."""
        pair = Pair(self.number())
        self.call(
            "PUT",
            f"/v1/subjects/{pair.subject}",
            {
                "legal_basis": "stalking_provisional_measure",
                "name": f"Kim {pair.n}",
                "probation_officer": officer,
            },
        )
        self.call(
            "PUT", f"/v1/protected-persons/{pair.victim}", {"name": f"Lee {pair.n}", "phone": "010-0000-0000"}
        )
        self.call("PUT", f"/v1/devices/{pair.ankle}", {"kind": "ankle_monitor", "person_id": pair.subject})
        self.call("PUT", f"/v1/devices/{pair.phone}", {"kind": "phone", "person_id": pair.victim})
        body = {"subject_id": pair.subject, "protected_person_id": pair.victim, "violation_distance_m": 100,
                "warning_distance_m": 1000, "victim_view_m": 600, "legal_basis": "stalking_provisional_measure",
                "zones": [{"label": "home", "circle": {"lat": HOME_LAT, "lon": HOME_LON, "radius_m": 200}}]}  # fmt: skip
        self.call("PUT", f"/v1/orders/{pair.order}", body)
        return pair
