"""Tracing a miss or a false alert to its cause, from what the devices reported."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sim_kit import START, caseload, closest_order

from vigil.domain import geo
from vigil_sim.devices import iso
from vigil_sim.simulator import Simulation
from vigil_sim.trace import Tracer
from vigil_sim.truth import PROXIMITY, ZONE, TrueViolation, Truth

LOAD = caseload(4, 5)
ORDER = closest_order(LOAD)
ZONE_ = ORDER.zones[0]
SUBJECT = ORDER.subject_id
MONITOR = LOAD.people[SUBJECT].device.id
VIOLATION = TrueViolation(
    ZONE, SUBJECT, ORDER.protected_person_id, ORDER.id, ZONE_.id, START + timedelta(minutes=10),
    START + timedelta(minutes=12), 50.0,
)  # fmt: skip
TRUTH = Truth(START, START + timedelta(hours=1), 4, 60.0, (VIOLATION,), (), ())


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation(LOAD, seed=5, start=START, incident_rate=0.0)


def fix(sim: Simulation, minute: float, lat: float, lon: float, **rest: Any) -> dict[str, Any]:
    """A monitor's message measured `minute` into the run (its clock skew added), `late_s` late."""
    measured = START.timestamp() + minute * 60.0
    at = measured + sim.devices[MONITOR].skew_s
    body = {
        "lat": lat,
        "lon": lon,
        "accuracy_m": rest.get("accuracy_m", 10.0),
        "source": rest.get("source", "gnss"),
    }
    return {
        "device": MONITOR,
        "at": iso(at),
        "received_at": iso(measured + rest.get("late_s", 1.0)),
        "fix": body,
    }


def missed(
    sim: Simulation, messages: list[dict[str, Any]], alerts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return Tracer(sim, messages, TRUTH).missed(VIOLATION, alerts or [])


def test_the_rule_is_named(sim: Simulation) -> None:
    assert missed(sim, [])["rule"] == f"exclusion zone {ZONE_.id}"


def test_no_fix_during_the_interval(sim: Simulation) -> None:
    before = fix(sim, 5, ZONE_.lat, ZONE_.lon)  # before the violation: does not count
    assert missed(sim, [before])["cause"] == "no fix"


def test_only_coarse_fixes(sim: Simulation) -> None:
    cell = fix(sim, 11, ZONE_.lat, ZONE_.lon, accuracy_m=900.0, source="cell")
    assert missed(sim, [cell])["cause"] == "only coarse fixes"


def test_fixes_late(sim: Simulation) -> None:
    batch = fix(sim, 11, ZONE_.lat, ZONE_.lon, late_s=45 * 60.0)
    found = missed(sim, [batch])
    assert found["cause"] == "fixes late" and "2700 s" in found["detail"]


def test_the_engine_did_not_raise_on_a_fix_inside(sim: Simulation) -> None:
    inside = fix(sim, 11, ZONE_.lat, ZONE_.lon)
    found = missed(sim, [inside])
    assert found["cause"] == "engine did not raise"
    assert found["evidence"][0]["device"] == MONITOR


def test_no_fix_inside(sim: Simulation) -> None:
    lat, lon = geo.destination(ZONE_.lat, ZONE_.lon, 90.0, ZONE_.radius_m + 400.0)
    found = missed(sim, [fix(sim, 11, lat, lon)])
    assert found["cause"] == "no fix inside" and "400 m outside" in found["detail"]


def test_an_alert_raised_for_another_pair(sim: Simulation) -> None:
    other = {
        "at": iso(START.timestamp() + 11 * 60.0),
        "alert": "a-1",
        "kind": ZONE,
        "change": "opened",
        "subject": SUBJECT,
        "protected_person": None,
        "zone": "elsewhere",
    }
    found = missed(sim, [fix(sim, 11, ZONE_.lat, ZONE_.lon)], [other])
    assert found["cause"] == "alert for another pair" and "elsewhere" in found["detail"]


def test_a_false_alert_on_a_multipath_jump_is_traced_to_it(sim: Simulation) -> None:
    minute = 30.0
    true = sim.position(SUBJECT, START.timestamp() + minute * 60.0)
    lat, lon = geo.destination(true[0], true[1], 0.0, 400.0)
    jump = fix(sim, minute, lat, lon, accuracy_m=8.0)
    line = {
        "at": jump["received_at"],
        "alert": "a-9",
        "kind": PROXIMITY,
        "change": "opened",
        "subject": SUBJECT,
        "protected_person": None,
        "zone": None,
        "order": ORDER.id,
    }
    found = Tracer(sim, [jump], TRUTH).false(line)
    assert found["cause"] == "multipath jump"
    assert found["rule"] == f"proximity (order {ORDER.id})"
    assert 380 <= found["evidence"][0]["error_m"] <= 420


def test_a_late_detection_is_traced_over_the_time_it_took(sim: Simulation) -> None:
    later = fix(sim, 14, ZONE_.lat, ZONE_.lon)  # after the 2 minutes it took: does not explain them
    found = Tracer(sim, [later], TRUTH).delayed(VIOLATION, 120.0)
    assert (found["cause"], found["delay_s"]) == ("no fix", 120)
    waited = fix(sim, 11.5, ZONE_.lat, ZONE_.lon)  # 90 s after the crossing, on time
    assert Tracer(sim, [waited], TRUTH).delayed(VIOLATION, 120.0)["cause"] == "waiting for a fix"
    in_transit = fix(sim, 10.1, ZONE_.lat, ZONE_.lon, late_s=100.0)
    assert Tracer(sim, [in_transit], TRUTH).delayed(VIOLATION, 120.0)["cause"] == "fix late"
    ignored = fix(sim, 10.1, ZONE_.lat, ZONE_.lon)
    found = Tracer(sim, [ignored], TRUTH).delayed(VIOLATION, 120.0)
    assert found["cause"] == "engine waited" and "alert 113 s after it arrived" in found["detail"]
