"""No localising him through her view, end to end: a real app on SQLite, the pair and the order
registered over REST, him placed by his monitor, and her account posting believable positions and
reading her status after each. For two places of his in one grid cell, both beyond her view from
every place she reported, the whole conversation (every answer, byte for byte) is the same.

The same property over many more sequences, with the engine but without HTTP, is in
tests/rules/test_rules_victim_localisation.py; here a few generated cases check that the server
adds no channel of its own (the answers to her posts, the order of reads, what the reader skips)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api_kit import HOME_LAT, HOME_LON, Clock
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from accounts_kit import GATEWAY, provision
from database_kit import Kind, Templates
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain import geo
from vigil.domain.model import Role
from vigil.domain.victim_view import Limits, cell_of, cell_size_m
from vigil.store.accounts import create_user, issue_token

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HOME = (HOME_LAT, HOME_LON)
Point = tuple[float, float]


@dataclass
class Server:
    client: TestClient
    clock: Clock
    tokens: dict[str, str]

    def call(self, method: str, path: str, body: Any = None, who: str = "operator") -> Any:
        r = self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        assert r.status_code < 300, r.text
        return r.json()


def _her_account(conn: Connection, now: datetime, tokens: dict[str, str]) -> None:
    create_user(conn, user_id="u-p1", name="P1", role=Role.PROTECTED_PERSON, now=now, person_id="P1")
    tokens["victim"] = issue_token(conn, role=Role.PROTECTED_PERSON, now=now, user_id="u-p1")


# An operator and her account, made once per session and copied for every server.
ACCOUNTS = Kind("victim-localisation", lambda url: provision(url, (Role.OPERATOR,), START, _her_account))


@contextmanager
def server(templates: Templates, folder: Path, view_m: float, him: Point) -> Iterator[Server]:
    """A fresh app on its own SQLite file, at START: S1 (monitor AM-1) placed at `him`, P1 (phone
    PH-1) at home, and an order between them with her view `view_m`."""
    with templates.copy("sqlite", ACCOUNTS, folder) as copy:
        url, tokens = copy.url, dict(copy.data)
    clock = Clock(START)
    app = create_app(Settings(database_url=url, token_cache_s=0, rate_my_position_per_s=0), clock=clock)
    with TestClient(app) as client:
        s = Server(client, clock, tokens)
        s.call("PUT", "/v1/subjects/S1", {"legal_basis": "parole", "name": "S1"})
        s.call("PUT", "/v1/devices/AM-1", {"kind": "ankle_monitor", "person_id": "S1"})
        s.call("PUT", "/v1/protected-persons/P1", {"name": "P1"})
        s.call("PUT", "/v1/devices/PH-1", {"kind": "phone", "person_id": "P1"})
        order = {
            "subject_id": "S1",
            "protected_person_id": "P1",
            "violation_distance_m": 100,
            "warning_distance_m": 1000,
            "victim_view_m": view_m,
            "legal_basis": "stalking_provisional_measure",
        }
        s.call("PUT", "/v1/orders/O1", order)
        at = START.isoformat()
        messages = [
            {"device": "AM-1", "at": at, "fix": {"lat": him[0], "lon": him[1], "accuracy_m": 8}},
            {"device": "PH-1", "at": at, "fix": {"lat": HOME[0], "lon": HOME[1], "accuracy_m": 10}},
        ]
        s.call("POST", "/v1/devices/messages", messages, who=GATEWAY)
        yield s


@dataclass(frozen=True)
class Case:
    view_m: float
    walk: tuple[tuple[float, float, float], ...]  # (seconds, metres, bearing): believable moves
    one: Point
    two: Point

    def places(self) -> list[Point]:
        here, out = HOME, []
        for _, metres, bearing in self.walk:
            here = geo.destination(*here, bearing, metres)
            out.append(here)
        return out


@st.composite
def cases(draw: st.DrawFn) -> Case:
    view = draw(st.sampled_from([300.0, 600.0]))
    walk = draw(
        st.lists(
            st.tuples(
                st.floats(min_value=5, max_value=30),
                st.floats(min_value=0, max_value=250),
                st.floats(min_value=0, max_value=359.99),
            ),
            min_size=3,
            max_size=10,
        )
    )
    # believable: never faster than 50 m/s
    walk = [(seconds, min(metres, 50 * seconds), bearing) for seconds, metres, bearing in walk]
    anchor = geo.destination(*HOME, draw(st.floats(0, 359.99)), draw(st.floats(700, 1_500)))
    cell = cell_of(*anchor, cell_size_m(Limits(100, 1000, view)))
    inside = st.floats(min_value=0.01, max_value=0.99)
    one = (cell.south + draw(inside) * (cell.north - cell.south), cell.west + draw(inside) * cell.width)
    two = (cell.south + draw(inside) * (cell.north - cell.south), cell.west + draw(inside) * cell.width)
    return Case(view, tuple(walk), one, two)


def conversation(templates: Templates, case: Case, him: Point) -> list[Any]:
    """Everything her account is told while it walks, with him standing at `him`."""
    told: list[Any] = []
    with tempfile.TemporaryDirectory() as folder, server(templates, Path(folder), case.view_m, him) as s:
        told.append(s.call("GET", "/v1/me/status", who="victim"))
        for (seconds, _, _), (lat, lon) in zip(case.walk, case.places(), strict=True):
            s.clock.advance(seconds)
            told.append(
                s.call("POST", "/v1/me/position", {"lat": lat, "lon": lon, "accuracy_m": 15}, "victim")
            )
            told.append(s.call("GET", "/v1/me/status", who="victim"))
    return told


@pytest.mark.slow  # two servers per generated case
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    database=None,
    phases=[Phase.generate],  # two servers per example: a failure is reported as found, not shrunk
)
@given(case=cases())
def test_the_whole_conversation_is_the_same_for_two_places_of_his_in_one_cell(
    database_templates: Templates, case: Case
) -> None:
    places = [HOME, *case.places()]
    assume(min(geo.distance_m(*p, *h) for p in places for h in (case.one, case.two)) > case.view_m)
    first = conversation(database_templates, case, case.one)
    assert first == conversation(database_templates, case, case.two)
    assert all(
        answer.get("offenders", []) == [] or answer["offenders"][0]["band"] == "warning" for answer in first
    )
