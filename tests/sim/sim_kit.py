"""Shared helpers for the simulator tests: small caseloads, and reports turned into something to check."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from vigil.domain import geo
from vigil_sim.caseload import Caseload, CaseOrder, make_caseload
from vigil_sim.devices import Report
from vigil_sim.simulator import TZ, native_message

# A Monday morning: people are at work or on their way.
START = datetime(2026, 3, 16, 10, 0, tzinfo=TZ)


@cache
def caseload(subjects: int = 6, seed: int = 5) -> Caseload:
    return make_caseload(subjects, seed)


def apart(load: Caseload, o: CaseOrder) -> float:
    """Metres between the homes of the order's two parties."""
    s, v = load.people[o.subject_id].home, load.people[o.protected_person_id].home
    return geo.distance_m(s.lat, s.lon, v.lat, v.lon)


def closest_order(load: Caseload) -> CaseOrder:
    """The order whose two parties live closest together: short incident scripts."""
    return min(load.orders, key=lambda o: apart(load, o))


def order_apart(load: Caseload, low_m: float, high_m: float) -> CaseOrder:
    """The first order whose parties live `low_m`..`high_m` apart."""
    return next(o for o in load.orders if low_m <= apart(load, o) <= high_m)


def messages(reports: list[Report], device_id: str | None = None) -> list[dict[str, Any]]:
    """Reports as native messages (OsmAnd converted), optionally of one device."""
    return [native_message(r) for r in reports if device_id is None or r.device_id == device_id]


def at_of(message: dict[str, Any]) -> float:
    return datetime.fromisoformat(message["at"]).timestamp()
