"""Location loss: a device that keeps reporting with no usable position past its limit raises
location_loss (possible jamming or shielding), which clears once usable positions are back for a hold.
A silent device is signal_loss alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_kit import (
    ANKLE,
    ANKLE_MONITOR,
    HOME,
    PHONE,
    SUBJECT,
    VICTIM_PHONE,
    World,
    at,
    fix,
    heartbeats,
    kinds,
    near,
    order,
)

from vigil.domain.alerts import AlertKey, AlertKind, Change, Severity
from vigil.domain.model import Circle, DeviceKind, EventKind, FixSource, Zone, ZoneKind
from vigil.rules import location
from vigil.rules.tuning import Tuning

LOCATION = AlertKind.LOCATION_LOSS
SIGNAL = AlertKind.SIGNAL_LOSS
KEY = AlertKey("location", SUBJECT, ANKLE)
# A deadline falls half a reporting interval after the limit, so that the report due at the limit
# is awaited (`location.deadline`); the heartbeats here teach the engine a 60 s interval.
HALF = 30


def _heartbeats(w: World, start: int, end: int, every: int = 60) -> list[tuple[Change, AlertKind]]:
    """Heartbeats from his monitor at start, start+every, ... < end (seconds), each tick run before it."""
    return [(c.change, c.alert.kind) for c in heartbeats(w, at(start), at(end), every)]


def test_heartbeats_with_no_fix_past_the_limit_raise_location_loss_at_the_limit() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    assert _heartbeats(w, 60, 600) == []
    (opened,) = w.tick(at(600))
    assert (opened.change, opened.alert.kind, opened.at) == (Change.OPENED, LOCATION, at(600))
    alert = opened.alert
    assert alert.severity is Severity.HIGH
    assert alert.key == KEY
    assert alert.facts.device_id == ANKLE
    assert alert.facts.occurred_at == at(0)  # when the last usable position was measured
    assert alert.facts.subject_position is not None and alert.facts.subject_position.age_s == 600
    # no signal_loss: it kept reporting
    assert _heartbeats(w, 660, 1800) == []
    assert [a.kind for a in w.open_alerts()] == [LOCATION]


def test_usable_positions_that_keep_coming_clear_it_after_the_hold() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    _heartbeats(w, 60, 601)
    # 200 m on, then walking on: he is on the move, not at rest. The alert stays active (no line)
    # until the hold ends, and clears then because the positions kept coming.
    assert w.subject(700, near(3200), acc=15) == []
    for t in range(760, 1600, 60):
        assert w.subject(t, near(3200 + 3 * (t - 700)), acc=15) == []  # 3 m/s
    (cleared,) = w.tick(at(1600))  # 700 + the 900 s hold
    assert (cleared.change, cleared.alert.kind) == (Change.CLEARED, LOCATION)
    assert cleared.alert.facts.occurred_at == at(1540)  # his latest usable position
    assert _heartbeats(w, 1620, 2170) == []
    # the same alert, again, 600 s on (and half the 60 s interval: the report due then is awaited)
    assert kinds(w.tick(at(1540 + 600 + HALF))) == [Change.UPDATED]
    assert w.only_alert().active


def test_one_stray_position_in_a_long_loss_does_not_clear_it() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    _heartbeats(w, 60, 601)
    assert w.subject(700, near(3200), acc=15) == []  # one fix, then none again
    assert _heartbeats(w, 760, 3600) == []  # no cleared line, no raise again: one outage, one alert
    assert w.tick(at(3600)) == []
    assert w.only_alert().active
    # and when the positions are back for good, it clears a hold after the first of them
    for t in range(3600, 4600, 60):
        w.tick(at(t))
        w.subject(t, near(4000 + 3 * (t - 3600)), acc=15)
    assert kinds(c for c in w.log if c.at > at(3600)) == [Change.CLEARED]
    assert [c.at for c in w.log if c.change is Change.CLEARED] == [at(4500)]


def test_positions_now_and_then_keep_it_active_until_they_come_steadily() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    _heartbeats(w, 60, 601)
    # on the move, a usable position every 5 minutes against a 10-minute limit: at the end of the
    # hold (1600) the latest is 300 s old, half the limit, so they are not back yet
    for t, d in ((700, 3300), (1000, 3900), (1300, 4500)):
        assert w.subject(t, near(d), acc=15) == []
        assert _heartbeats(w, t + 60, t + 300) == []
    assert w.tick(at(1600)) == []
    assert w.only_alert().active
    # steady again: the next usable position starts another hold, which ends with the alert cleared
    for t in range(1620, 2600, 60):
        w.tick(at(t))
        w.subject(t, near(5000 + 3 * (t - 1620)), acc=15)
    assert [(c.change, c.at) for c in w.log if c.at > at(1600)] == [(Change.CLEARED, at(2520))]


def test_a_slow_reporter_needs_a_longer_hold_than_its_limit() -> None:
    monitor = replace(w_device := World(with_order=False).engine.devices[ANKLE], report_interval_s=300.0)
    assert location.clear_after(monitor, Tuning(), 300.0) == 1800.0  # 1.5 x its 20-minute limit
    assert location.clear_after(w_device, Tuning(), 60.0) == 900.0  # the pair hold


@pytest.mark.parametrize(
    ("source", "acc"),
    [(FixSource.CELL, 150.0), (FixSource.GNSS, 800.0), (FixSource.WIFI, 301.0)],
)
def test_cell_or_coarse_fixes_are_no_position(source: FixSource, acc: float) -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    for t in range(60, 600, 60):
        assert w.subject(t, near(3000), acc=acc, source=source) == []
    (opened,) = w.tick(at(600))
    assert opened.alert.kind is LOCATION
    assert opened.alert.facts.occurred_at == at(0)


def test_wifi_within_the_coarse_limit_is_a_position() -> None:
    w = World(with_order=False)
    for t in range(0, 1800, 60):
        w.tick(at(t))
        w.subject(t, near(3000), acc=150, source=FixSource.WIFI)
    assert w.open_alerts() == []


def test_events_with_no_fix_count_as_reporting() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    for t in range(60, 600, 60):
        w.tick(at(t))
        w.event(ANKLE, t, EventKind.CHARGING)
    assert [a.kind for a in w.open_alerts()] == []
    assert [c.alert.kind for c in w.tick(at(600))] == [LOCATION]


def test_a_silent_device_gets_signal_loss_only() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    assert [(c.change, c.alert.kind) for c in w.tick(at(3600))] == [(Change.OPENED, SIGNAL)]
    # back with a heartbeat: signal_loss clears, and location_loss is not raised at once for the
    # silence; the location clock starts again from its return
    assert [(c.change, c.alert.kind) for c in w.record(w.engine.on_heard(ANKLE, at(3700), at(3700)))] == [
        (Change.CLEARED, SIGNAL)
    ]
    assert _heartbeats(w, 3760, 4300) == []
    assert [c.alert.kind for c in w.tick(at(4300))] == [LOCATION]


def test_a_device_gone_silent_after_a_few_heartbeats_is_not_location_loss() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    w.record(w.engine.on_heard(ANKLE, at(60), at(60)))
    changes = w.tick(at(1000))
    assert [c.alert.kind for c in changes] == [SIGNAL]


def test_a_victims_phone_is_not_watched_by_default_but_can_be() -> None:
    w = World(with_order=False)
    w.victim(0, acc=10)
    for t in range(60, 3600, 60):
        w.tick(at(t))
        w.victim(t, acc=1500, source=FixSource.CELL)
    assert w.open_alerts() == []

    watched = replace(VICTIM_PHONE, location_limit_s=900.0)
    w = World(with_order=False, devices=(ANKLE_MONITOR, watched))
    w.victim(0, acc=10)
    for t in range(60, 960, 60):
        w.tick(at(t))
        w.victim(t, acc=1500, source=FixSource.CELL)
    (alert,) = w.open_alerts()
    assert (alert.kind, alert.protected_person_id, alert.facts.device_id) == (LOCATION, "victim-1", PHONE)
    assert alert.facts.protected_position is not None and alert.facts.subject_position is None


def test_a_device_limit_and_the_tuning_default() -> None:
    tuning = Tuning(default_location_s=1200)
    assert location.limit(ANKLE_MONITOR, tuning) == 1200
    assert location.limit(replace(ANKLE_MONITOR, location_limit_s=300), tuning) == 300
    assert location.limit(VICTIM_PHONE, tuning) is None
    assert location.limit(replace(VICTIM_PHONE, kind=DeviceKind.SMARTWATCH), tuning) is None
    w = World(with_order=False, devices=(replace(ANKLE_MONITOR, location_limit_s=300),))
    w.subject(0, near(3000), acc=10)
    _heartbeats(w, 60, 300)
    assert [c.alert.kind for c in w.tick(at(300))] == [LOCATION]


def test_a_never_located_device_raises_with_no_last_position() -> None:
    w = World(with_order=False)
    _heartbeats(w, 0, 600)
    (opened,) = w.tick(at(600))
    assert opened.alert.kind is LOCATION
    assert opened.alert.facts.occurred_at is None
    assert opened.alert.facts.subject_position is None


def test_one_timer_entry_per_device_however_often_it_reports() -> None:
    w = World(with_order=False)
    for t in range(0, 3000, 10):
        w.subject(t, near(3000), acc=10)
    kinds_on_timer = [kind for _, _, kind, _ in w.engine._deadlines]
    assert kinds_on_timer.count("location") == 1


# --- at rest behind walls ------------------------------------------------------------------------


REST = Tuning().rest_location_s


def test_a_man_at_rest_indoors_gets_the_long_limit() -> None:
    """Two usable positions that agree he stays put (a Wi-Fi fix at home after a GNSS one): the
    spell that follows is judged against the rest limit, not 10 minutes."""
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    w.subject(300, near(3040), acc=80, source=FixSource.WIFI)
    assert _heartbeats(w, 360, 300 + int(REST) + HALF) == []
    (opened,) = w.tick(at(300 + REST + HALF))
    assert (opened.change, opened.alert.kind) == (Change.OPENED, LOCATION)


def test_a_limit_set_on_the_device_is_kept_at_rest() -> None:
    """The same man at rest indoors, his monitor set to 10 minutes: whoever set it asked to hear of
    10 minutes without a position wherever he sits (a foil wrap at home); the rest limit is the
    default's only."""
    w = World(with_order=False, devices=(replace(ANKLE_MONITOR, location_limit_s=600),))
    w.subject(0, near(3000), acc=10)
    w.subject(300, near(3040), acc=80, source=FixSource.WIFI)
    assert _heartbeats(w, 360, 900 + HALF) == []
    (opened,) = w.tick(at(900 + HALF))
    assert (opened.change, opened.alert.kind) == (Change.OPENED, LOCATION)


def test_a_man_on_the_move_when_positions_stop_gets_the_short_limit() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    w.subject(60, near(3500), acc=10, speed=8.0)
    assert _heartbeats(w, 120, 660) == []
    (opened,) = w.tick(at(660))
    assert opened.alert.kind is LOCATION


def test_one_wifi_position_after_walking_in_is_indoors_not_shielding() -> None:
    """He walks to work (GNSS, moving), gives one Wi-Fi fix inside, then nothing usable: indoors,
    judged against the rest limit."""
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10, speed=1.5)
    w.subject(60, near(3400), acc=90, source=FixSource.WIFI)
    assert _heartbeats(w, 120, 60 + int(REST) + HALF) == []
    (opened,) = w.tick(at(60 + REST + HALF))
    assert opened.alert.kind is LOCATION


def test_a_wifi_fix_that_measured_movement_is_not_rest() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    w.subject(60, near(3040), acc=90, source=FixSource.WIFI, speed=5.0)
    assert _heartbeats(w, 120, 660) == []
    (opened,) = w.tick(at(660))
    assert opened.alert.kind is LOCATION


def test_a_cell_fix_that_places_him_elsewhere_ends_the_rest() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    w.subject(300, near(3000), acc=20)
    # a cell fix 5 km away whose 1.5 km disc does not hold his home: he has left
    assert w.subject(400, near(8000), acc=1500, source=FixSource.CELL) == []
    assert _heartbeats(w, 460, 950) == []
    # 10 min after his last usable position, not 2 h (and half the interval learned when it was
    # scheduled, 100 s: the median of the gaps between his messages then)
    (opened,) = w.tick(at(950))
    assert opened.alert.kind is LOCATION


def test_a_cell_fix_around_his_home_keeps_the_rest() -> None:
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    w.subject(300, near(3000), acc=20)
    assert w.subject(400, near(3600), acc=1500, source=FixSource.CELL) == []
    assert _heartbeats(w, 460, 3600) == []


def test_a_restart_carries_the_location_clock_on_from_the_stored_positions() -> None:
    """After a restart the engine takes his last usable positions back from the store: he was at
    rest indoors before it, so heartbeats afterwards are judged against the rest limit, not a new
    10-minute spell that would raise for every monitor indoors."""
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10)
    w.subject(300, near(3040), acc=80, source=FixSource.WIFI)
    _heartbeats(w, 360, 1200)
    fixes = [f for track in w.engine.tracks.values() for f in track.history]
    fresh = World(with_order=False)
    fresh.engine.restore(fixes, {ANKLE: at(1140)}, [], at(1200))
    assert _heartbeats(fresh, 1200, 300 + int(REST) + HALF) == []
    (opened,) = fresh.tick(at(300 + REST + HALF))
    assert opened.alert.kind is LOCATION
    assert opened.alert.facts.occurred_at == at(300)


# --- an arrival: one GNSS standstill at a new place ------------------------------------------------


def test_an_arrival_measured_still_away_from_her_gets_the_long_limit() -> None:
    """He drives 2 km, the receiver measures him still at the new place (Doppler, which multipath
    does not fake), then nothing usable: he went in, judged against the rest limit."""
    w = World()
    w.victim(0, HOME)
    w.subject(0, near(5000), acc=10, speed=12.0)
    w.subject(180, near(3000), acc=15, speed=0.0)  # 2 km on, far outside her 1 km warning distance
    assert _heartbeats(w, 240, 180 + int(REST) + HALF) == []
    assert LOCATION in [c.alert.kind for c in w.tick(at(180 + REST + HALF))]


def test_an_arrival_near_her_gets_the_short_limit() -> None:
    """The same stop within her warning distance could be him wrapping the monitor in foil before
    walking on to her door: 10 minutes, as for a man on the move."""
    w = World()
    w.victim(0, HOME)
    w.subject(0, near(2500), acc=10, speed=12.0)
    w.subject(120, near(450), acc=15, speed=0.0)  # her warning distance is 500 m
    assert LOCATION not in [k for _, k in _heartbeats(w, 180, 720)]
    assert LOCATION in [c.alert.kind for c in w.tick(at(720))]


def test_an_arrival_near_her_stays_one_through_a_few_still_fixes() -> None:
    """He parks 450 m from her, his monitor (in pursuit) gives three still fixes in the same place,
    then nothing usable: still the short limit. Two still fixes made the stop "rest" and earned the
    2-hour limit: the protection was lost after a second fix."""
    w = World()
    w.victim(0, HOME)
    w.subject(0, near(2500), acc=10, speed=12.0)
    for t in (120, 135, 150):
        w.subject(t, near(450), acc=15, speed=0.0)
    assert LOCATION not in [k for _, k in _heartbeats(w, 180, 720)]
    assert LOCATION in [c.alert.kind for c in w.tick(at(780))]  # 10 min after his last fix, and a report due


def test_a_man_at_rest_near_her_long_after_his_arrival_gets_the_long_limit() -> None:
    """A neighbour home for an hour (still fixes since he came in) is at rest, as before."""
    w = World()
    w.victim(0, HOME)
    w.subject(0, near(2500), acc=10, speed=12.0)
    for t in range(120, 120 + 3600 + 1, 300):
        w.victim(t, HOME)
        w.subject(t, near(450), acc=15, speed=0.0)
    last = 120 + 3600
    assert LOCATION not in [k for _, k in _heartbeats(w, last + 60, last + 1800)]


def test_an_arrival_near_one_of_her_zones_gets_the_short_limit() -> None:
    her_work = near(6000, bearing=180.0)
    zone = Zone("z-work", ZoneKind.EXCLUSION, Circle(her_work[0], her_work[1], 200.0))
    w = World(the_order=replace(order(), zones=(zone,)))
    w.victim(0, HOME)
    w.subject(0, near(3000, bearing=180.0, origin=her_work), acc=10, speed=12.0)
    w.subject(240, near(600, bearing=180.0, origin=her_work), acc=15, speed=0.0)  # 400 m from its edge
    assert LOCATION not in [k for _, k in _heartbeats(w, 300, 840)]
    assert LOCATION in [c.alert.kind for c in w.tick(at(840))]


def test_near_danger_reads_her_position_and_the_orders_exclusion_zones() -> None:
    tuning = Tuning()
    the_order = order()
    his = fix(ANKLE, at(0), near(450), acc=20)
    assert location.near_danger(the_order, his, fix(PHONE, at(0), HOME, acc=10), tuning)
    assert not location.near_danger(the_order, his, fix(PHONE, at(0), near(2500, bearing=225.0)), tuning)
    assert not location.near_danger(the_order, his, None, tuning)
    cell = fix(PHONE, at(0), HOME, acc=1500, source=FixSource.CELL)
    assert not location.near_danger(the_order, his, cell, tuning)  # a cell fix does not place her


def test_positions_back_are_judged_against_the_limit_that_applies() -> None:
    """At rest his limit is the rest limit, and a position 20 minutes old is recent against it; on an
    arrival near her the 10-minute limit applies, and the same position is not."""
    monitor = World(with_order=False).engine.devices[ANKLE]
    last = fix(ANKLE, at(0), near(3000), acc=15, speed=0.0)
    state = location.LocationState(at(0), last, at_rest=True, arrived=True)
    assert location.back(monitor, state, at(1200), Tuning(), 60.0)
    assert not location.back(monitor, state, at(1200), Tuning(), 60.0, rest=False)
    assert location.back(monitor, state, at(200), Tuning(), 60.0, rest=False)


# --- properties over random reporting ------------------------------------------------------------


_SHORT = Tuning().default_location_s
_reports = st.lists(
    # mostly heartbeats: long spells with no usable position, broken by a stray fix now and then
    st.tuples(st.integers(min_value=15, max_value=240), st.sampled_from(["heartbeat"] * 5 + ["fix", "cell"])),
    min_size=1,
    max_size=120,
)


@settings(max_examples=120, deadline=None)
@given(_reports)
def test_location_loss_raises_once_per_outage_and_clears_only_when_positions_are_back(
    plan: list[tuple[int, str]],
) -> None:
    """A monitor on the move (every usable fix 200 m on: never at rest) that reports at random:
    location_loss is raised only after its short limit with no usable position, at most once per
    such spell, and cleared only while usable positions are recent: younger than half the limit in
    force when it clears (the short limit, or more intervals of what the engine has learned of the
    monitor's reporting by then, `location.allowed_s`)."""
    w = World(with_order=False)
    w.subject(0, near(3000), acc=10, speed=3.0)
    t, last_usable, metres = 0, 0, 3000.0
    spells, counted = 0, False  # spells with no usable position of at least the limit
    raises, seen = 0, 0

    def check(latest: int) -> None:
        """The location lines since the last check, against the latest usable position then."""
        nonlocal raises, seen
        lines = [c for c in w.log if c.alert.kind is LOCATION]
        every = w.engine._interval(ANKLE)
        allowed = max(_SHORT, Tuning().location_intervals * (every or 0.0))
        for c in lines[seen:]:
            age = (c.at - at(0)).total_seconds() - latest
            if c.change is Change.OPENED or (c.change is Change.UPDATED and c.alert.active):
                raises += 1
                assert age >= _SHORT
            if c.change is Change.CLEARED:
                assert age < allowed / 2, (age, allowed)
        seen = len(lines)

    for gap, kind in plan:
        t += gap
        if not counted and t - last_usable >= _SHORT:  # its deadline comes with the tick
            spells, counted = spells + 1, True
        w.tick(at(t))
        check(last_usable)  # a tick at the instant of a fix runs before the fix
        if kind == "fix":
            metres += 200.0
            w.subject(t, near(metres), acc=15, speed=3.0)
            last_usable, counted = t, False
        elif kind == "cell":
            w.subject(t, near(metres), acc=1500, source=FixSource.CELL)
        else:
            w.record(w.engine.on_heard(ANKLE, at(t), at(t)))
        check(last_usable)
    assert raises <= spells
