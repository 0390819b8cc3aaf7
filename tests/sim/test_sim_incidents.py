"""Scripted incidents: what truly happens, and what the devices make of it."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sim_kit import START, at_of, caseload, closest_order, messages, order_apart

from vigil.domain import geo
from vigil_sim.incidents import IncidentKind, draw
from vigil_sim.movement import day_of
from vigil_sim.simulator import Simulation

QUIET = 0.0


def _sim(seed: int = 5) -> Simulation:
    return Simulation(caseload(), seed=seed, start=START, incident_rate=QUIET)


def test_namyangju_gives_a_true_violation_and_reports_of_the_approach() -> None:
    load = caseload()
    order = order_apart(load, 3_000.0, 10_000.0)  # a drive, not a walk
    sim = _sim()
    at = START + timedelta(minutes=10)
    incident = sim.force(IncidentKind.NAMYANGJU, order.subject_id, at, order.protected_person_id)
    reports = sim.advance(START + timedelta(hours=2))
    truth = sim.truth

    mine = [v for v in truth.proximity_violations if v.order_id == order.id]
    assert mine, "he reached her: the true distance went under the order's line"
    crossing = mine[0].start
    assert at < crossing < incident.ended_at
    assert any(i.kind == "namyangju" and i.forced for i in truth.incidents)

    ankle = load.people[order.subject_id].device.id
    victim = load.people[order.protected_person_id]
    found = messages(reports, ankle)
    approach = [m for m in found if at.timestamp() <= at_of(m) <= crossing.timestamp() and "fix" in m]
    assert len(approach) >= 3
    assert any(m["fix"].get("speed_mps", 0.0) > 10.0 for m in approach), "he drove"
    her = sim.position(victim.id, at.timestamp())  # she stays there until he has gone

    def to_her(m: dict[str, object]) -> float:
        fix = m["fix"]
        assert isinstance(fix, dict)
        return geo.distance_m(fix["lat"], fix["lon"], her[0], her[1])

    assert to_her(approach[-1]) < to_her(approach[0])
    # Within 2 km of her the monitor is in pursuit: every 15 s.
    close = [at_of(m) for m in found if "fix" in m and at_of(m) <= crossing.timestamp() and to_her(m) < 1_500]
    assert len(close) >= 2 and min(b - a for a, b in itertools.pairwise(close)) <= 15
    cuts = [m for m in found if m.get("event") == "strap_cut"]
    assert len(cuts) == 1 and at_of(cuts[0]) > crossing.timestamp()
    assert any(e.event == "strap_cut" and e.alert_kind == "tamper" for e in truth.events)


def test_victim_walks_toward_the_parked_offender() -> None:
    order = closest_order(caseload())
    sim = _sim()
    at = START + timedelta(minutes=5)
    incident = sim.force(IncidentKind.VICTIM_APPROACH, order.subject_id, at, order.protected_person_id)
    sim.advance(START + timedelta(hours=2))
    mine = [v for v in sim.truth.proximity_violations if v.order_id == order.id]
    assert mine
    # He never moved while she came to him.
    for k in range(0, int((mine[0].start - at).total_seconds()), 30):
        assert sim.position(order.subject_id, at.timestamp() + k)[2] == 0.0
    assert mine[0].start < incident.ended_at


def test_curfew_breach_is_a_true_zone_violation() -> None:
    load = caseload()
    subject = next(s for s in load.subjects if s.curfew is not None)
    night = START.replace(hour=21)
    sim = Simulation(load, seed=5, start=night, incident_rate=QUIET)
    assert subject.curfew is not None
    sim.force(IncidentKind.CURFEW_BREACH, subject.id, night.replace(hour=23))
    sim.advance(night + timedelta(hours=5))
    breaches = [v for v in sim.truth.zone_violations if v.zone_id == subject.curfew.id]
    assert len(breaches) == 1
    assert night.replace(hour=23) <= breaches[0].start < night.replace(hour=23, minute=30)
    assert breaches[0].end is not None and breaches[0].depth_m > 500


def test_signal_loss_silences_the_monitor() -> None:
    load = caseload()
    subject = load.subjects[1]
    sim = _sim()
    at = START + timedelta(minutes=10)
    incident = sim.force(IncidentKind.SIGNAL_LOSS, subject.id, at)
    reports = sim.advance(START + timedelta(hours=1))
    times = [r.send_at for r in reports if r.device_id == subject.person.device.id]
    assert not any(at < t < incident.ended_at for t in times)
    assert any(t > incident.ended_at for t in times)
    silences = [e for e in sim.truth.events if e.alert_kind == "signal_loss" and e.person_id == subject.id]
    assert len(silences) == 1 and silences[0].end is not None
    assert 10 * 60 <= (silences[0].end - silences[0].at).total_seconds() <= 32 * 60


def test_battery_death_warns_then_powers_off_then_goes_quiet() -> None:
    load = caseload()
    subject = load.subjects[2]
    sim = _sim()
    at = START + timedelta(minutes=5)
    sim.force(IncidentKind.BATTERY_DEATH, subject.id, at)
    reports = sim.advance(START + timedelta(hours=3))
    events = [
        m.get("event") for m in messages(reports, subject.person.device.id) if m.get("event") != "heartbeat"
    ]
    assert events.index("battery_low") < events.index("power_off")
    kinds = {e.alert_kind for e in sim.truth.events if e.person_id == subject.id}
    assert {"battery_low", "power_off", "signal_loss"} <= kinds


def test_tamper_and_sos_are_sent_as_events() -> None:
    load = caseload()
    order = load.orders[0]
    sim = _sim()
    at = START + timedelta(minutes=3)
    sim.force(IncidentKind.TAMPER, order.subject_id, at)
    sim.force(IncidentKind.SOS, order.subject_id, at, order.protected_person_id)
    reports = sim.advance(START + timedelta(minutes=10))
    subject_events = {m.get("event") for m in messages(reports, load.people[order.subject_id].device.id)}
    assert subject_events & {"strap_open", "case_open"}
    victim_device = load.people[order.protected_person_id].device.id
    sos = [m for m in messages(reports, victim_device) if m.get("event") == "sos"]
    assert len(sos) == 1 and abs(at_of(sos[0]) - at.timestamp()) <= 10


def test_random_incidents_come_at_about_the_configured_rate() -> None:
    load = caseload(200, 3)
    start_day = day_of(START.timestamp())
    drawn = [draw(1, s, day, 0.05) for s in load.subjects for day in range(start_day, start_day + 20)]
    found = [d for d in drawn if d is not None]
    assert 0.04 < len(found) / len(drawn) < 0.06
    assert {kind for kind, _, _ in found} == set(IncidentKind)


def test_a_day_of_random_incidents_shows_up_in_the_truth() -> None:
    sim = Simulation(caseload(), seed=5, start=START.replace(hour=0), incident_rate=1.0)
    sim.advance(START.replace(hour=0) + timedelta(days=1))
    assert len(sim.truth.incidents) == len(caseload().subjects)


def test_incidents_cannot_be_forced_into_the_past() -> None:
    sim = _sim()
    sim.advance(START + timedelta(minutes=10))
    with pytest.raises(ValueError, match="past"):
        sim.force(IncidentKind.TAMPER, "S-000001", START)


def test_a_warm_up_reports_before_the_start_with_no_incident_and_no_truth() -> None:
    """The devices report for the warm-up before the measured start, so the engine starts it knowing
    where everyone was; nothing happens in it (no incident, at any rate), and the truth, events
    included, begins at the start."""
    busy = 1.0  # an incident for every subject every day, if the warm-up let any in
    warm = Simulation(caseload(), seed=5, start=START, incident_rate=busy, warm_up_s=3600.0)
    reports = warm.advance(START + timedelta(hours=2))
    times = [at_of(m) for m in messages(reports)]
    assert min(times) < (START - timedelta(minutes=50)).timestamp()
    assert warm.incidents and all(i.start >= START.timestamp() for i in warm.incidents)
    truth = warm.truth
    assert truth.start == START
    assert all(e.at >= START for e in truth.events)
    assert all(v.start >= START for v in truth.violations)
    # incidents are drawn per subject and day from the seed: the warm-up does not change which
    cold = Simulation(caseload(), seed=5, start=START, incident_rate=busy)
    cold.advance(START + timedelta(hours=2))
    assert [(i.kind, i.subject_id, i.start) for i in warm.incidents] == [
        (i.kind, i.subject_id, i.start) for i in cold.incidents
    ]
