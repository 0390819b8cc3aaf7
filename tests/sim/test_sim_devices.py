"""Devices: determinism, reporting intervals, honest accuracy, the two wire formats."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache

from sim_kit import START, at_of, caseload, messages

from vigil.adapters import native, osmand
from vigil.domain import geo
from vigil.domain.model import DeviceKind, Fix
from vigil.sim.devices import KNOT_MPS, DeviceTuning, Report
from vigil.sim.simulator import Simulation

# No random incidents: these tests look at ordinary reporting.
QUIET = 0.0


def _run(sim: Simulation, minutes: int, step: int = 10) -> list[Report]:
    out: list[Report] = []
    for k in range(step, minutes + step, step):
        out += sim.advance(sim.start + timedelta(minutes=min(k, minutes)))
    return out


@cache
def _daytime() -> tuple[Simulation, tuple[Report, ...]]:
    """Thirty subjects with their victims over the morning commute (people spend most of the day
    indoors, where there are few GNSS fixes to look at)."""
    morning = START.replace(hour=6, minute=30)
    sim = Simulation(caseload(30, 7), seed=7, start=morning, incident_rate=QUIET)
    return sim, tuple(_run(sim, 180))


def _key(r: Report) -> tuple[object, ...]:
    payload = json.dumps(r.payload, sort_keys=True)
    return r.send_at, r.device_id, r.protocol, payload


def test_same_seed_same_reports_however_the_run_is_chunked() -> None:
    a = Simulation(caseload(), seed=3, start=START)
    b = Simulation(caseload(), seed=3, start=START)
    one_go = a.advance(START + timedelta(minutes=30))
    chunked = _run(b, 30, step=1)
    assert [_key(r) for r in one_go] == [_key(r) for r in chunked]
    assert len(one_go) > 100
    c = Simulation(caseload(), seed=4, start=START)
    assert [_key(r) for r in c.advance(START + timedelta(minutes=30))] != [_key(r) for r in one_go]


def test_reports_come_in_send_order_and_never_before_measured() -> None:
    sim, reports = _daytime()
    sends = [r.send_at for r in reports]
    assert sends == sorted(sends)
    for r, m in zip(reports, messages(list(reports)), strict=True):
        skew = sim.devices[r.device_id].skew_s
        assert r.send_at.timestamp() >= at_of(m) - skew


def test_clock_skew_is_a_few_seconds_at_most_ten() -> None:
    sim, _ = _daytime()
    skews = [d.skew_s for d in sim.devices.values()]
    assert all(abs(s) <= 10 for s in skews)
    assert any(s != 0 for s in skews)


def test_every_minute_normally_every_15_s_in_pursuit() -> None:
    # Automatic pursuit off and no coverage gaps, so the only schedule is the one under test.
    tuning = DeviceTuning(pursuit_distance_m=0.0, gap_per_fix=0.0)
    sim = Simulation(caseload(), seed=9, start=START, incident_rate=QUIET, tuning=tuning)
    device = caseload().subjects[0].person.device.id
    normal = messages(sim.advance(START + timedelta(minutes=30)), device)
    sim.pursuit(device, START + timedelta(minutes=45))
    chased = messages(sim.advance(START + timedelta(minutes=45)), device)
    calm_again = messages(sim.advance(START + timedelta(minutes=75)), device)

    def gaps(found: list[dict[str, object]]) -> set[float]:
        times = [at_of(m) for m in found if m.get("event") in (None, "heartbeat")]
        return {b - a for a, b in itertools.pairwise(times)}

    # An ankle monitor sends something every time: a fix, or a heartbeat when it has none.
    assert gaps(normal) == {60.0}
    assert gaps(chased[2:]) == {15.0}
    assert gaps(calm_again[2:]) == {60.0}


def test_accuracy_is_honest_in_aggregate() -> None:
    """About 68 % of fixes lie within their reported accuracy of the truth (the Android convention)."""
    sim, reports = _daytime()
    within: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for r in reports:
        if r.protocol != "native":
            continue
        fix = r.payload["fix"] if isinstance(r.payload, dict) and "fix" in r.payload else None
        if fix is None:
            continue
        device = sim.devices[r.device_id]
        at = datetime.fromisoformat(str(r.payload["at"])).timestamp() - device.skew_s  # type: ignore[call-overload]
        truth = sim.position(device.person_id, at)
        error = geo.distance_m(truth[0], truth[1], fix["lat"], fix["lon"])
        total[fix["source"]] += 1
        within[fix["source"]] += error <= fix["accuracy_m"]
        assert 5.0 <= fix["accuracy_m"] <= 2000.0
    assert total["gnss"] > 1000 and total["wifi"] > 20
    assert 0.62 < within["gnss"] / total["gnss"] < 0.74
    assert 0.6 < within["wifi"] / total["wifi"] < 0.76


def test_indoors_most_samples_have_no_fix() -> None:
    """At night everyone is at home: a monitor mostly sends heartbeats, a phone mostly nothing."""
    night = datetime(2026, 3, 17, 2, 0, tzinfo=START.tzinfo)
    sim = Simulation(caseload(10, 7), seed=7, start=night, incident_rate=QUIET)
    found = messages(sim.advance(night + timedelta(hours=1)))
    ankle = [m for m in found if m["device"].startswith("AM-")]
    heartbeats = sum(1 for m in ankle if m.get("event") == "heartbeat")
    assert 0.6 < heartbeats / len(ankle) < 0.8
    sources = Counter(m["fix"].get("source", "gnss") for m in ankle if "fix" in m)
    assert sources["wifi"] > 0 and sources["gnss"] > 0


def test_native_payloads_pass_the_native_adapter() -> None:
    _, reports = _daytime()
    bodies = [r.payload for r in reports if r.protocol == "native"]
    decoded = native.decode(json.dumps(bodies[:1000]).encode(), datetime.now(UTC))
    assert decoded.errors == []
    assert len(decoded.reports) == 1000
    assert all(isinstance(p, dict) and p["at"].endswith("+09:00") for p in bodies)


def test_osmand_payloads_speak_knots_and_epoch_seconds() -> None:
    sim, reports = _daytime()
    phones = [r for r in reports if r.protocol == "osmand"]
    assert phones
    moving = 0
    for r in phones:
        assert isinstance(r.payload, list)
        params = dict(r.payload)
        assert params["timestamp"].isdigit()
        decoded = osmand.decode_query(r.payload, r.send_at)
        assert decoded.errors == []
        report = decoded.reports[0][1]
        assert isinstance(report, Fix)
        if "speed" not in params:
            continue
        knots = float(params["speed"])
        assert report.speed_mps is not None and math.isclose(report.speed_mps, knots * osmand.KNOTS_TO_MPS)
        device = sim.devices[r.device_id]
        truth = sim.position(device.person_id, int(params["timestamp"]) - device.skew_s)
        if truth[2] > 3.0:  # travelling: the knots are the true speed, not m/s
            moving += 1
            assert abs(knots * KNOT_MPS - truth[2]) < 1.5
            assert knots > truth[2] * 1.5
    assert moving > 0


def test_late_batches_keep_their_own_times() -> None:
    tuning = DeviceTuning(gap_per_fix=0.01)
    sim = Simulation(caseload(), seed=2, start=START, incident_rate=QUIET, tuning=tuning)
    reports = sim.advance(START + timedelta(hours=1))
    late = [r for r in reports if r.send_at.timestamp() - at_of(messages([r])[0]) > 240]
    assert late
    by_send = Counter((r.device_id, r.send_at) for r in late)
    assert max(by_send.values()) >= 4  # several minutes of fixes leave together


def test_battery_is_reported_and_drains() -> None:
    sim, reports = _daytime()
    device = caseload(30, 7).subjects[0].person.device.id
    levels = [m["fix"]["battery_pct"] for m in messages(list(reports), device) if "fix" in m]
    assert levels and all(0.0 <= b <= 100.0 for b in levels)
    assert levels[-1] < levels[0]  # 3-5 %/h, and nobody charges in the morning
    assert sim.devices[device].info.kind is DeviceKind.ANKLE_MONITOR
