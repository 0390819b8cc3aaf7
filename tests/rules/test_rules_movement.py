"""Plausibility before certainty for every device (rules/movement.py and the engine's use of it)."""

from __future__ import annotations

from rules_kit import ANKLE, DEVICES, HOME, SUBJECT, WATCH, World, at, fix, near, summary

from vigil.domain.alerts import AlertKind, Change, Confidence
from vigil.domain.model import FixSource
from vigil.domain.plausibility import DoubtKind
from vigil.rules import movement
from vigil.rules.proximity import CLEAR
from vigil.rules.tuning import Tuning

TUNING = Tuning()
VIOL, WARN = AlertKind.PROXIMITY_VIOLATION, AlertKind.PROXIMITY_WARNING
HIS_HOME = near(1750, 0)


def test_a_real_car_is_plausible_and_a_teleport_is_not() -> None:
    anchor = fix(ANKLE, at(0), near(1800, 0), acc=10)
    car = fix(ANKLE, at(60), near(0, 0), acc=10, speed=30.0)  # 30 m/s for a minute
    assert movement.suspect(anchor, car, TUNING) is None
    teleport = fix(ANKLE, at(10), near(0, 0), acc=10)  # 1.8 km in 10 s: 178 m/s
    train = fix(ANKLE, at(60), near(0, 0), acc=10)
    anchor_far = fix(ANKLE, at(0), near(5000, 0), acc=10)  # 5 km in 60 s: the KTX at full speed
    assert movement.suspect(anchor_far, train, TUNING) is None
    doubt = movement.suspect(anchor, teleport, TUNING)
    assert doubt is not None and doubt.kind is DoubtKind.SPEED


def test_a_jump_while_the_receiver_measures_a_standstill_is_suspect() -> None:
    anchor = fix(ANKLE, at(0), HIS_HOME, acc=8, speed=0.0)
    jump = fix(ANKLE, at(60), near(50, 0), acc=8, speed=0.0)
    doubt = movement.suspect(anchor, jump, TUNING)
    assert doubt is not None and doubt.kind is DoubtKind.JUMP
    # the same move measured by the receiver (it was driving, or is): no doubt
    assert movement.suspect(anchor, fix(ANKLE, at(60), near(50, 0), acc=8, speed=29.0), TUNING) is None
    driving = fix(ANKLE, at(0), HIS_HOME, acc=8, speed=30.0)
    assert movement.suspect(driving, jump, TUNING) is None  # he braked at her door
    # a long gap: anything within road speed may have happened
    assert movement.suspect(anchor, fix(ANKLE, at(900), near(50, 0), acc=8, speed=0.0), TUNING) is None
    # a small hop within the accuracies is jitter
    assert movement.suspect(anchor, fix(ANKLE, at(60), near(1700, 0), acc=8, speed=0.0), TUNING) is None


def _at_home() -> World:
    w = World()
    w.victim(0)
    for t in range(0, 600, 60):
        assert w.subject(t, HIS_HOME, acc=8, speed=0.0) == []
    return w


def test_a_lone_jump_gives_at_most_an_unconfirmed_possible_warning_and_asks_for_confirmation() -> None:
    w = _at_home()
    (raised,) = w.subject(600, near(50, 0), acc=8, speed=0.0)
    assert summary([raised]) == [(Change.OPENED, WARN)]
    assert raised.alert.facts.unconfirmed
    assert raised.alert.facts.confidence is Confidence.POSSIBLE
    assert [p.time for p in raised.alert.facts.evidence] == [at(540), at(600)]
    # it moved no one, and the pair's live state is untouched
    latest = w.engine.tracks[SUBJECT].latest
    assert latest is not None and latest.time == at(540)
    assert w.engine._pairs["order-1"].tier == CLEAR
    (request,) = w.engine.drain_requests()
    assert request.device_id == ANKLE and request.interval_s == TUNING.confirm_interval_s
    assert request.until == at(600 + TUNING.confirm_window_s)
    assert w.engine.drain_requests() == []
    # her own fix meanwhile does not settle it: only his device's next fix does
    assert w.victim(605) == []
    # back home: it was a reflection
    assert summary(w.subject(610, HIS_HOME, acc=8, speed=0.0)) == [(Change.CLEARED, WARN)]


def test_a_still_pairs_lone_jump_that_would_only_warn_raises_nothing_but_asks_for_confirmation() -> None:
    """A GNSS fix claiming 8 m, 1.3 km from his home and 450 m from her, his receiver measuring a
    standstill: a reflection. Within her 500 m warning distance only: no possible warning; his
    device is asked to report faster, and the next fix settles it."""
    w = _at_home()
    assert w.subject(600, near(450, 0), acc=8, speed=0.0) == []
    (request,) = w.engine.drain_requests()
    assert request.device_id == ANKLE
    assert w.subject(610, HIS_HOME, acc=8, speed=0.0) == []  # back home: it was a reflection
    # the same jump while her phone measures her walking: a possible warning, as before
    w = _at_home()
    w.victim(590, speed=1.5)
    (raised,) = w.subject(600, near(450, 0), acc=8, speed=0.0)
    assert summary([raised]) == [(Change.OPENED, WARN)] and raised.alert.facts.unconfirmed


def test_the_next_fix_that_agrees_confirms_the_jump_and_escalates() -> None:
    w = _at_home()
    w.subject(600, near(50, 0), acc=8, speed=0.0)
    changes = w.subject(610, near(45, 0), acc=8, speed=0.0)
    assert summary(changes) == [(Change.ESCALATED, VIOL)]
    assert not changes[0].alert.facts.unconfirmed
    # the confirmed fix is now a good fix of his device
    times = [f.time for f in w.engine.tracks[SUBJECT].devices[ANKLE].history]
    assert times[-2:] == [at(600), at(610)]


def test_a_real_fast_approach_is_a_violation_on_its_first_fix() -> None:
    w = _at_home()
    (opened,) = w.subject(600, near(50, 0), acc=8, speed=28.0, heading=180.0)
    assert summary([opened]) == [(Change.OPENED, VIOL)]
    assert not opened.alert.facts.unconfirmed
    assert w.engine.drain_requests() == []


def test_speeds_come_from_plausible_fixes_only() -> None:
    w = World()
    w.victim(0)
    w.subject(0, near(3000, 0), acc=10)
    w.subject(10, near(3000, 90), acc=10)  # 4 km in 10 s: doubted, not an anchor
    (warned,) = w.subject(70, near(400, 0), acc=10)
    # the speed is from the fix at 0 s (2.6 km in 70 s), not from the doubted one
    assert warned.alert.facts.subject_speed_mps is not None
    assert warned.alert.facts.subject_speed_mps > 30


def test_a_doubted_fix_of_hers_moves_no_one_either() -> None:
    w = World()
    w.subject(0, near(3000, 0), acc=10)
    w.victim(0, HOME, acc=10)
    (raised,) = w.victim(10, near(2950, 0), acc=10)  # her phone says she is by him, 3 km in 10 s
    assert raised.alert.facts.unconfirmed and raised.alert.kind is WARN
    latest = w.engine.tracks["victim-1"].latest
    assert latest is not None and latest.time == at(0)


def test_another_device_at_the_doubted_place_corroborates_it() -> None:
    from vigil.domain.model import Device, DeviceKind, PersonKind

    phone = Device("his-phone", DeviceKind.PHONE, SUBJECT, PersonKind.SUBJECT)
    w = World(devices=(*DEVICES, phone))
    w.victim(0)
    for t in range(0, 600, 60):
        w.subject(t, HIS_HOME, acc=8, speed=0.0)
    (raised,) = w.subject(600, near(50, 0), acc=8, speed=0.0)
    assert raised.alert.facts.unconfirmed
    # his phone, which he carries too, puts him at her door 20 s later: the jump was real
    changes = w.report("his-phone", 620, near(55, 0), acc=10)
    assert summary(changes) == [(Change.ESCALATED, VIOL)]
    latest = w.engine.tracks[SUBJECT].latest
    assert latest is not None and latest.device_id == ANKLE and latest.time == at(600)


def test_a_doubted_cell_fix_defers_to_her_last_fine_fix_as_any_cell_fix_does() -> None:
    """Her watch's cell fix, 3.8 km from the cell fix before it 15 s earlier, is doubted. Judged on
    its centre it would put her 300 m from him (a possible warning); but its disc holds where she was
    measured well a minute before, 700 m from him, so it says nothing that fix did not: no alert."""
    w = World()
    w.subject(0, near(700, 90), acc=20.0, speed=0.0)
    w.report(WATCH, 0, HOME, acc=20.0, speed=0.0)
    w.report(WATCH, 60, HOME, acc=20.0, speed=0.0)
    w.report(WATCH, 90, near(3500, 200), acc=1300.0, source=FixSource.CELL)
    # (the far cell fix itself is doubted now: 2.2 km beyond both discs 30 s after a standstill)
    assert WATCH in w.engine._suspects
    assert w.report(WATCH, 105, near(400, 90), acc=757.0, source=FixSource.CELL) == []
    assert w.open_alerts() == []


def test_an_unconfirmed_warning_gives_no_speed_or_time_to_contact_from_the_fix_not_believed() -> None:
    """Speeds, closing speeds and time to contact come from plausible fixes only: a jump to her door
    whose receiver claims 20 m/s says nothing of how fast he closes on her."""
    w = _at_home()
    (raised,) = w.subject(550, near(50, 0), acc=8, speed=20.0, heading=180.0)  # 1.7 km in 10 s
    facts = raised.alert.facts
    assert facts.unconfirmed
    assert (facts.closing_speed_mps, facts.time_to_contact_s, facts.subject_speed_mps) == (None, None, None)


def test_a_move_the_receivers_speeds_cannot_explain_is_suspect() -> None:
    """Walking at 1.2 m/s, then 2.3 km off a minute later still at 1.2 m/s: no vehicle goes from the
    one speed to the other that far in a minute (the 90 m/s limit alone let it through, and a
    reflection near her door was a certain violation). Driving at 30 m/s at both ends, it is."""
    walk = fix(ANKLE, at(0), near(2300, 0), acc=10, speed=1.2)
    jump = fix(ANKLE, at(60), near(30, 0), acc=10, speed=1.2)
    doubt = movement.suspect(walk, jump, TUNING)
    assert doubt is not None and doubt.kind is DoubtKind.SPEED and "1.2 then 1.2 m/s" in doubt.reason
    drive = fix(ANKLE, at(0), near(1800, 0), acc=10, speed=30.0)
    assert movement.suspect(drive, fix(ANKLE, at(60), near(0, 0), acc=10, speed=30.0), TUNING) is None
    # no speed measured at the far end: from 1.2 m/s no vehicle gets 2.3 km in a minute either (a
    # Wi-Fi fix 3 km off, 40 s after a standstill at her door, cleared a violation); from 30 m/s it does
    no_speed = movement.suspect(walk, fix(ANKLE, at(60), near(30, 0), acc=10), TUNING)
    assert no_speed is not None and "then no speed" in no_speed.reason
    assert movement.suspect(drive, fix(ANKLE, at(60), near(0, 0), acc=10), TUNING) is None


def test_stopped_at_a_light_then_parked_at_her_door_is_a_drive_not_a_jump() -> None:
    """At 0 m/s at a red light 650 m from her, having driven there; a minute later parked 60 m from
    her door, at 0 m/s: stop-and-go driving, believed at once. The same two standstills with the
    fix before the light also at the light (he had been sitting there) stay a jump to confirm."""
    driving = fix(ANKLE, at(-60), near(1300, 0), acc=8, speed=12.0)
    light = fix(ANKLE, at(0), near(650, 0), acc=8, speed=0.0)
    parked = fix(ANKLE, at(60), near(60, 0), acc=8, speed=0.0)
    assert movement.suspect(light, parked, TUNING, before=driving) is None
    sitting = fix(ANKLE, at(-60), near(655, 0), acc=8, speed=0.0)
    doubt = movement.suspect(light, parked, TUNING, before=sitting)
    assert doubt is not None and doubt.kind is DoubtKind.JUMP


def test_a_drive_that_stops_at_her_door_is_a_violation_on_its_first_fix_inside() -> None:
    w = World()
    w.victim(0, HOME)
    w.subject(0, near(1300, 0), acc=8, speed=12.0)
    w.subject(60, near(650, 0), acc=8, speed=0.0)  # a red light
    arrived = w.subject(120, near(60, 0), acc=8, speed=0.0)
    assert summary(arrived) == [(Change.OPENED, VIOL)]  # (650 m is beyond this order's warning line)


def test_reachable_m_bounds_a_vehicle_from_one_speed_to_another() -> None:
    # from a standstill to a standstill in a minute: up to the road limit and down again
    assert 1500 < movement.reachable_m(0.0, 0.0, 60.0, TUNING) < 2000
    # a train measured at 80 m/s keeps its speed
    assert movement.reachable_m(80.0, 80.0, 60.0, TUNING) >= 80.0 * 60
    # a hard stop the profile cannot join in time is bounded by the higher speed throughout
    assert movement.reachable_m(30.0, 0.0, 5.0, TUNING) == 150.0
    # more time never means less reach
    assert movement.reachable_m(1.0, 2.0, 30.0, TUNING) <= movement.reachable_m(1.0, 2.0, 31.0, TUNING)
