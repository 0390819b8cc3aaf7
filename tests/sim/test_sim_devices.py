"""Devices: determinism, reporting intervals, honest accuracy, the two wire formats."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

from sim_kit import START, at_of, caseload, messages

from vigil.adapters import native, osmand
from vigil.domain import geo
from vigil.domain.model import DeviceKind, Fix
from vigil_sim.caseload import CaseloadSettings, make_caseload
from vigil_sim.devices import KNOT_MPS, NOISE_PROFILES, DeviceTuning, Report
from vigil_sim.simulator import Simulation

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


# --- noise profiles and the world's devices -----------------------------------------------------------

OUTDOORS = (37.5, 127.0, 0.0, 0.0, False)  # standing still in the open


def _errors(tuning: DeviceTuning, n: int = 3_000) -> list[tuple[float, float, str]]:
    """(metres off, stated accuracy, source) of n fixes of one device standing in the open."""
    sim = Simulation(caseload(), seed=1, start=START, incident_rate=QUIET, tuning=tuning)
    device = next(iter(sim.devices.values()))
    out = []
    for _ in range(n):
        found = device._measure(OUTDOORS)
        assert found is not None
        lat, lon, accuracy, _, _, source = found
        out.append((geo.distance_m(OUTDOORS[0], OUTDOORS[1], lat, lon), accuracy, source))
    return out


def test_default_noise_is_the_field_figures_of_before() -> None:
    assert NOISE_PROFILES["default"] == DeviceTuning()
    assert set(NOISE_PROFILES) == {"clean", "default", "noisy"}


def test_clean_fixes_never_jump_and_noisy_ones_do_more_often_than_default() -> None:
    def jumps(profile: str) -> int:
        return sum(
            1
            for off, acc, source in _errors(NOISE_PROFILES[profile])
            if source == "gnss" and off > 100 + 3 * acc
        )

    clean = _errors(NOISE_PROFILES["clean"])
    assert all(source == "gnss" and off < 5 * acc and acc <= 30 for off, acc, source in clean)
    assert jumps("clean") == 0 < jumps("noisy")
    assert jumps("noisy") > 2 * jumps("default")
    assert any(source == "cell" for _, _, source in _errors(NOISE_PROFILES["noisy"]))  # outdoor fallbacks


def test_noisy_gaps_are_uploaded_30_to_60_minutes_late_as_a_batch() -> None:
    tuning = replace(NOISE_PROFILES["noisy"], gap_per_fix=0.005)
    sim = Simulation(caseload(), seed=2, start=START, incident_rate=QUIET, tuning=tuning)
    reports = sim.advance(START + timedelta(hours=3))
    lateness = [r.send_at.timestamp() - at_of(messages([r])[0]) for r in reports]
    assert max(lateness) >= 1800 - 15
    assert max(lateness) <= 3600 + 15


def test_noisy_devices_change_their_interval_for_some_hours() -> None:
    sim = Simulation(caseload(), seed=2, start=START, incident_rate=QUIET, tuning=NOISE_PROFILES["noisy"])
    device = next(iter(sim.devices.values()))
    hours = [device._interval(START.timestamp() + h * 3600.0) for h in range(2_000)]
    changed = [i for i in hours if i != device.info.interval_s]
    assert 0.01 < len(changed) / len(hours) < 0.06
    assert set(changed) <= {120, 300}
    assert device.silence_limit_s == 600.0  # the truth allows two of its longest intervals


def test_some_devices_report_every_five_minutes_and_say_so_in_the_replay_file() -> None:
    load = make_caseload(4, 5, CaseloadSettings(slow_device_fraction=1.0))
    monitor = load.subjects[0].person.device
    assert monitor.interval_s == 300
    tuning = DeviceTuning(pursuit_distance_m=0.0, gap_per_fix=0.0)
    sim = Simulation(load, seed=5, start=START, incident_rate=QUIET, tuning=tuning)
    sent = [at_of(m) for m in messages(sim.advance(START + timedelta(hours=1)), monitor.id)]
    assert len(sent) >= 10
    assert all(b - a == 300 for a, b in itertools.pairwise(sent))
    doc = sim.replay_document([], START + timedelta(hours=1))
    assert {"id": monitor.id, "kind": "ankle_monitor", "report_interval_s": 300} in doc["subjects"][0][
        "devices"
    ]


def test_the_slow_share_and_the_second_phones_leave_everything_else_a_seed_gives_alone() -> None:
    plain = make_caseload(30, 3, CaseloadSettings(slow_device_fraction=0.0, second_device_fraction=0.0))
    world = make_caseload(30, 3)
    assert [p.home for p in plain.people.values()] == [p.home for p in world.people.values()]
    assert [o.id for o in plain.orders] == [o.id for o in world.orders]
    slow = [p.device.id for p in world.people.values() if p.device.interval_s == 300]
    phones = [d for p in world.subjects for d in p.person.extra_devices]
    assert slow and phones and all(d.kind is DeviceKind.PHONE and not d.body_worn for d in phones)


def test_a_phone_left_at_home_reports_home_while_he_is_out() -> None:
    settings = CaseloadSettings(second_device_fraction=1.0, phone_left_home_share=1.0)
    load = make_caseload(6, 5, settings)
    sim = Simulation(load, seed=5, start=START, incident_rate=QUIET)
    # someone out during the day, and when
    subject, noon = next(
        (s, START.replace(hour=h).timestamp())
        for h in range(10, 20)
        for s in load.subjects
        if sim.position(s.id, START.replace(hour=h).timestamp())[:2] != (s.person.home.lat, s.person.home.lon)
    )
    phone = sim.devices[subject.person.extra_devices[0].id]
    where = phone.true_location(noon, sim)
    assert (where[0], where[1]) == (subject.person.home.lat, subject.person.home.lon)
    carried = make_caseload(6, 5, replace(settings, phone_left_home_share=0.0))
    sim2 = Simulation(carried, seed=5, start=START, incident_rate=QUIET)
    assert sim2.devices[phone.info.id].true_location(noon, sim2) == sim2.position(subject.id, noon)


def test_every_profile_gives_the_same_run_for_the_same_seed_however_chunked() -> None:
    load = make_caseload(6, 5, CaseloadSettings(slow_device_fraction=0.5, second_device_fraction=0.5))
    for name, tuning in NOISE_PROFILES.items():
        a = Simulation(load, seed=3, start=START, tuning=tuning)
        b = Simulation(load, seed=3, start=START, tuning=tuning)
        one_go = a.advance(START + timedelta(minutes=40))
        assert [_key(r) for r in one_go] == [_key(r) for r in _run(b, 40, step=7)], name
