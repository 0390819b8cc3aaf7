"""Zones: exclusion entry (accuracy-aware, with hysteresis), inclusion curfews whose schedule is local
time in the zone's own time zone, started and ended by the clock with no fix needed."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rules_kit import (
    ANKLE,
    FAR,
    HOME,
    ORDER_ID,
    QUIET,
    SUBJECT,
    T0,
    VICTIM,
    World,
    circle_zone,
    fix,
    heartbeats,
    kinds,
    near,
    order,
    summary,
)

from vigil.domain import geo
from vigil.domain.alerts import AlertKind, Change, Confidence, Severity
from vigil.domain.model import (
    WEEKDAYS,
    Device,
    DeviceKind,
    FixSource,
    PersonKind,
    Polygon,
    Schedule,
    ScheduleWindow,
    Weekday,
    Zone,
    ZoneKind,
)

ZONE = AlertKind.ZONE_VIOLATION
SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")

# The subject's own home, where a curfew keeps him at night; well away from the victim.
HIS_HOME = near(6000, 120)


def seconds(when: datetime) -> float:
    return (when - T0).total_seconds()


def curfew(tz: str, days: str = "*", start: str = "22:00", end: str = "06:00") -> Schedule:
    names = WEEKDAYS if days == "*" else tuple(Weekday(d) for d in days.split())
    window = ScheduleWindow(frozenset(names), time.fromisoformat(start), time.fromisoformat(end))
    return Schedule(windows=(window,), timezone=tz)


def home_curfew(tz: str, **kw: str) -> Zone:
    return circle_zone("curfew", HIS_HOME, 150, ZoneKind.INCLUSION, schedule=curfew(tz, **kw), label="home")


def work_zone(radius: float = 200) -> Zone:
    return circle_zone("work", FAR, radius, subject_id=None, label="her work")


# --- exclusion ------------------------------------------------------------------------------------


def test_entering_an_orders_exclusion_zone_raises() -> None:
    w = World(order(zones=(work_zone(),)))
    assert w.subject(0, near(300, 0, FAR), acc=5.0) == []
    (opened,) = w.subject(10, near(150, 0, FAR), acc=5.0)
    alert = opened.alert
    assert opened.change is Change.OPENED
    assert alert.kind is ZONE
    assert alert.severity is Severity.HIGH
    assert (alert.subject_id, alert.protected_person_id, alert.zone_id, alert.order_id) == (
        SUBJECT,
        VICTIM,
        "work",
        ORDER_ID,
    )
    assert alert.facts.zone_label == "her work"
    assert alert.facts.confidence is Confidence.CERTAIN
    assert alert.facts.distance_m == pytest.approx(50, abs=0.1)  # how deep inside
    assert alert.facts.subject_position is not None


def test_first_fix_already_inside_opens() -> None:
    w = World(order(zones=(work_zone(),)))
    assert summary(w.subject(0, FAR)) == [(Change.OPENED, ZONE)]


def test_a_zone_added_while_he_is_inside_opens_at_once() -> None:
    w = World(with_order=False)
    w.subject(0, FAR)
    changes = w.engine.put_zone(circle_zone("own", FAR, 100), T0)
    assert summary(changes) == [(Change.OPENED, ZONE)]
    assert changes[0].alert.protected_person_id is None
    assert changes[0].alert.order_id is None


def test_a_zone_needs_its_subject() -> None:
    w = World(with_order=False)
    with pytest.raises(ValueError, match="subject"):
        w.engine.put_zone(circle_zone("own", FAR, 100, subject_id=None), T0)


@pytest.mark.parametrize(
    ("distance", "acc", "confidence"),
    [
        (150, 10.0, Confidence.CERTAIN),  # 50 m inside, 10 m accuracy
        (195, 10.0, Confidence.LIKELY),  # 5 m inside: the disc pokes out
        (200, None, Confidence.CERTAIN),  # on the boundary with no accuracy: inside
        (215, 20.0, Confidence.POSSIBLE),  # 15 m outside, but the disc reaches in
        (219, 20.0, Confidence.POSSIBLE),  # the disc's edge a metre inside
    ],
)
def test_exclusion_entry_is_accuracy_aware(
    distance: float, acc: float | None, confidence: Confidence
) -> None:
    w = World(order(zones=(work_zone(),)))
    (opened,) = w.subject(0, near(distance, 90, FAR), acc=acc)
    assert opened.alert.facts.confidence is confidence


def test_a_wifi_fix_repeating_where_he_stood_is_judged_by_the_standstill() -> None:
    """He sleeps 60 m outside the zone; a Wi-Fi fix claiming 90 m, centred on his home, reaches in.
    It only repeats, less precisely, where his receiver measured him standing: no entry (each such
    fix opened a new zone violation)."""
    w = World(order(zones=(work_zone(),)))
    w.subject(0, near(260, 90, FAR), acc=5.0, speed=0.0)
    assert w.subject(60, near(260, 90, FAR), acc=90.0, source=FixSource.WIFI) == []
    assert w.subject(120, near(260, 90, FAR), acc=5.0, speed=0.0) == []


def test_a_wider_indoor_gnss_fix_repeating_where_he_stood_is_judged_by_the_standstill() -> None:
    """Still 45 m outside on 10 m fixes; one still GNSS fix claims 30 m, centred 25 m outside: no
    entry (it opened a zone violation that never cleared: his 10 m fixes sat within the margin)."""
    w = World(order(zones=(work_zone(500),)))
    w.subject(0, near(545, 90, FAR), acc=10.0, speed=0.0)
    w.subject(60, near(546, 90, FAR), acc=10.0, speed=0.0)
    assert w.subject(120, near(525, 90, FAR), acc=30.0, speed=0.0) == []


def test_a_wifi_fix_reaching_in_after_a_walk_is_an_entry_at_once() -> None:
    """Measured walking before it, the same Wi-Fi fix is a possible entry at once: safety first."""
    w = World(order(zones=(work_zone(),)))
    w.subject(0, near(300, 90, FAR), acc=5.0, speed=1.3)
    (opened,) = w.subject(60, near(260, 90, FAR), acc=90.0, source=FixSource.WIFI)
    assert opened.alert.facts.confidence is Confidence.POSSIBLE


def test_exclusion_not_entered_when_the_whole_disc_is_outside() -> None:
    w = World(order(zones=(work_zone(),)))
    assert w.subject(0, near(221, 90, FAR), acc=20.0) == []
    assert w.subject(10, near(201, 90, FAR)) == []


def test_a_coarse_fix_neither_starts_nor_ends_a_zone_breach() -> None:
    """A cell fix cannot place him against a zone a few hundred metres wide: no entry on it, and a
    breach seen on a good fix is not ended by one either."""
    w = World(order(zones=(work_zone(),)))
    assert w.subject(0, near(100, 90, FAR), acc=800.0, source=FixSource.CELL) == []
    (opened,) = w.subject(10, near(100, 90, FAR), acc=10.0)
    assert opened.change is Change.OPENED
    held = w.subject(20, near(2000, 90, FAR), acc=800.0, source=FixSource.CELL)
    assert all(c.change is Change.UPDATED and c.alert.active for c in held)  # it may say so, still active
    (cleared,) = w.subject(30, near(2000, 90, FAR), acc=10.0)
    assert cleared.change is Change.CLEARED


def test_exclusion_hysteresis() -> None:
    w = World(order(zones=(work_zone(),)))
    w.subject(0, near(150, 90, FAR))
    # out to 200 + 25 m: still held
    for t, d in ((10, 205), (20, 190), (30, 224), (40, 199)):
        assert Change.CLEARED not in kinds(w.subject(t, near(d, 90, FAR))), d
    assert kinds(w.subject(50, near(226, 90, FAR))) == [Change.CLEARED]
    alert = w.only_alert()
    assert not alert.active
    assert w.subject(60, near(210, 90, FAR)) == []  # inside the margin, but not entered
    (back,) = w.subject(70, near(190, 90, FAR))
    assert back.change is Change.UPDATED
    assert back.alert.id == alert.id


def test_exclusion_hysteresis_counts_the_accuracy() -> None:
    w = World(order(zones=(work_zone(),)))
    w.subject(0, near(150, 90, FAR))
    # 240 m from the centre with 20 m accuracy: the near edge is 220 m, within 200 + 25 m
    assert Change.CLEARED not in kinds(w.subject(10, near(240, 90, FAR), acc=20.0))
    assert kinds(w.subject(20, near(250, 90, FAR), acc=20.0)) == [Change.CLEARED]


def test_a_large_zone_has_a_proportional_margin() -> None:
    w = World(order(zones=(work_zone(radius=1000),)))
    w.subject(0, FAR)
    assert Change.CLEARED not in kinds(w.subject(10, near(1099, 90, FAR)))  # margin 100 m
    assert kinds(w.subject(20, near(1101, 90, FAR))) == [Change.CLEARED]


def test_polygon_exclusion_zone() -> None:
    d_lat = math.degrees(100 / geo.EARTH_RADIUS_M)
    d_lon = d_lat / math.cos(math.radians(FAR[0]))
    lat, lon = FAR
    ring = (
        (lon - d_lon, lat - d_lat),
        (lon + d_lon, lat - d_lat),
        (lon + d_lon, lat + d_lat),
        (lon - d_lon, lat + d_lat),
    )
    square = Zone("square", ZoneKind.EXCLUSION, Polygon(ring), subject_id=SUBJECT)
    w = World(with_order=False)
    w.engine.put_zone(square, T0)
    assert w.subject(0, near(150, 90, FAR)) == []
    assert summary(w.subject(10, near(50, 90, FAR))) == [(Change.OPENED, ZONE)]
    assert Change.CLEARED not in kinds(w.subject(20, near(120, 90, FAR)))  # polygons: the 25 m margin
    assert kinds(w.subject(30, near(130, 90, FAR))) == [Change.CLEARED]


def test_only_the_subjects_own_fixes_are_judged_against_his_zones() -> None:
    w = World(order(zones=(work_zone(),)))
    w.subject(0, near(3000, 0, FAR))
    assert w.victim(10, FAR) == []


def test_removing_a_zone_clears_its_alert() -> None:
    w = World(with_order=False)
    w.engine.put_zone(circle_zone("own", FAR, 100), T0)
    w.subject(0, FAR)
    assert kinds(w.engine.remove_zone("own", T0 + timedelta(seconds=10))) == [Change.CLEARED]
    assert w.subject(20, FAR) == []
    assert w.engine.remove_zone("own", T0) == []


def test_replacing_a_zone_keeps_the_state_and_judges_it_again() -> None:
    w = World(with_order=False)
    w.engine.put_zone(circle_zone("own", FAR, 100), T0)
    w.subject(0, near(150, 90, FAR))
    bigger = w.engine.put_zone(circle_zone("own", FAR, 200), T0 + timedelta(seconds=5))
    assert summary(bigger) == [(Change.OPENED, ZONE)]


# --- inclusion: a curfew in Seoul ----------------------------------------------------------------


def kst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=SEOUL).astimezone(UTC)


def test_a_position_lost_for_hours_opens_no_curfew_at_its_start() -> None:
    """Out at 19:30, then hours of heartbeats with no usable position (he may have come home and be
    indoors): location_loss says so, and at 22:00 that old fix opens no curfew alarm. The first fix
    that places him judges: home, nothing; out, the curfew as ever."""
    w = World(with_order=False)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 18))
    w.subject(seconds(kst(11, 19, 30)), near(2000, 0, HIS_HOME), acc=10.0, speed=1.4, heading=0.0)
    lost = heartbeats(w, kst(11, 19, 31), kst(11, 22, 5))
    assert summary(lost) == [(Change.OPENED, AlertKind.LOCATION_LOSS)]
    assert [a.kind for a in w.open_alerts()] == [AlertKind.LOCATION_LOSS]
    # at home after all: still no curfew alert
    assert summary(w.subject(seconds(kst(11, 22, 5)), HIS_HOME, acc=10.0)) == []
    # out again, walking: the curfew opens on the fresh fix
    (opened,) = w.subject(seconds(kst(11, 23)), near(2000, 0, HIS_HOME), acc=10.0, speed=1.4, heading=0.0)
    assert (opened.change, opened.alert.kind) == (Change.OPENED, ZONE)


def test_a_monitor_gone_silent_outside_still_opens_the_curfew_on_its_last_fix() -> None:
    """Silence is not location loss: the strap cut outside at 21:40 leaves his last fix standing, and
    the curfew opens at 22:00 beside the signal_loss alert."""
    w = World(with_order=False)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 18))
    w.subject(seconds(kst(11, 21, 40)), near(2000, 0, HIS_HOME), acc=10.0, speed=1.4, heading=0.0)
    changes = w.tick(kst(11, 22))
    assert (Change.OPENED, ZONE) in summary(changes)


HIS_PHONE = Device("his-phone", DeviceKind.PHONE, SUBJECT, PersonKind.SUBJECT)


def test_his_phone_out_and_his_monitor_out_agree_at_the_monitors_first_fix_out() -> None:
    """His phone walks out at 22:30 while his monitor, still current, last said home: the monitor
    stands for him and nothing opens. Its first fix out (Wi-Fi, no speed) would wait for a second
    one; his phone out too, a minute before, is a second receiver's word, and the curfew opens."""
    w = World(with_order=False, devices=(*QUIET, HIS_PHONE))
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 18))
    w.subject(seconds(kst(11, 22, 29)), HIS_HOME, acc=10.0)
    assert w.report("his-phone", seconds(kst(11, 22, 30)), near(900, 0, HIS_HOME), acc=20.0, speed=1.5) == []
    (opened,) = w.subject(seconds(kst(11, 22, 31)), near(1000, 0, HIS_HOME), acc=60.0, source=FixSource.WIFI)
    assert (opened.change, opened.alert.kind) == (Change.OPENED, ZONE)


def test_his_phone_at_home_does_not_confirm_a_jump_of_his_monitor() -> None:
    w = World(with_order=False, devices=(*QUIET, HIS_PHONE))
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 18))
    w.subject(seconds(kst(11, 22, 29)), HIS_HOME, acc=10.0)
    w.report("his-phone", seconds(kst(11, 22, 30)), HIS_HOME, acc=20.0)
    # a reflection: 400 m out, claiming 10 m, measured still
    assert w.subject(seconds(kst(11, 22, 31)), near(400, 0, HIS_HOME), acc=10.0, speed=0.0) == []
    assert w.subject(seconds(kst(11, 22, 32)), HIS_HOME, acc=10.0) == []


def test_curfew_in_seoul_starts_and_ends_by_the_clock() -> None:
    w = World(with_order=False, devices=QUIET)
    assert w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 21)) == []

    # Out at 21:58 and 21:59: not yet the curfew.
    assert w.subject(seconds(kst(11, 21, 58)), near(2000, 0, HIS_HOME)) == []
    assert w.subject(seconds(kst(11, 21, 59)), near(2000, 0, HIS_HOME)) == []
    assert w.engine.next_deadline() == kst(11, 22)
    assert w.tick(kst(11, 21, 59) + timedelta(seconds=59)) == []

    # 22:00 exactly: the curfew starts and he is out, with no new fix.
    (opened,) = w.tick(kst(11, 22))
    assert opened.change is Change.OPENED
    assert opened.alert.kind is ZONE
    assert opened.at == kst(11, 22)
    assert opened.alert.facts.zone_label == "home"
    assert opened.alert.facts.distance_m == pytest.approx(1850, abs=0.5)  # how far outside
    assert opened.alert.facts.subject_position is not None
    assert opened.alert.facts.subject_position.age_s == 60
    assert opened.alert.facts.confidence is Confidence.CERTAIN

    # Still out: nothing new; back home: cleared.
    assert w.subject(seconds(kst(11, 22, 30)), near(1990, 0, HIS_HOME)) == []
    assert kinds(w.subject(seconds(kst(11, 23)), HIS_HOME)) == [Change.CLEARED]

    # Out again in the small hours, five hours after the last breach cleared: a new alert, once a
    # second fix confirms it (the first stays open for its operator).
    assert w.subject(seconds(kst(12, 4)), near(2000, 0, HIS_HOME)) == []
    (again,) = w.subject(seconds(kst(12, 4)) + 60, near(2000, 0, HIS_HOME))
    assert again.change is Change.OPENED
    assert again.alert.id != opened.alert.id

    # 06:00: the curfew ends while he is still out.
    assert w.engine.next_deadline() == kst(12, 6)
    assert kinds(w.tick(kst(12, 6))) == [Change.CLEARED]
    assert w.subject(seconds(kst(12, 7)), near(3000, 0, HIS_HOME)) == []
    # The breach's pursuit mode ends after its hold (rules/pursuit.py) ...
    assert w.engine.next_deadline() == kst(12, 6, 5)
    assert w.tick(kst(12, 7)) == []
    # ... and the next night's start is already on the timer.
    assert w.engine.next_deadline() == kst(12, 22)


def test_curfew_started_while_he_is_home_raises_when_he_leaves() -> None:
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 21))
    w.subject(seconds(kst(11, 21, 30)), HIS_HOME)
    assert w.tick(kst(11, 22)) == []
    assert w.subject(seconds(kst(11, 23)), near(500, 0, HIS_HOME)) == []  # one fix is not enough
    assert summary(w.subject(seconds(kst(11, 23)) + 60, near(500, 0, HIS_HOME))) == [(Change.OPENED, ZONE)]


def test_curfew_zone_added_during_the_curfew_judges_at_once() -> None:
    w = World(with_order=False, devices=QUIET)
    w.subject(seconds(kst(11, 22, 58)), near(500, 0, HIS_HOME))
    w.subject(seconds(kst(11, 22, 59)), near(500, 0, HIS_HOME))
    assert summary(w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 23))) == [(Change.OPENED, ZONE)]


def test_one_wifi_fix_centred_at_home_does_not_end_a_curfew_absence() -> None:
    """At a bar 1 km away on sharp fixes, one Wi-Fi fix of 200 m centred on his home: the absence
    goes on (it cleared, and the next fix raised it again); two in a row, he is home."""
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 21))
    bar = near(1000, 0, HIS_HOME)
    t = seconds(kst(11, 22, 30))
    w.subject(t, bar, acc=10.0, speed=0.0)
    w.subject(t + 60, bar, acc=10.0, speed=0.0)
    assert w.engine.book.for_key(next(iter(w.engine.book)).key).active  # type: ignore[union-attr]
    assert Change.CLEARED not in kinds(w.subject(t + 120, HIS_HOME, acc=200.0, source=FixSource.WIFI))
    assert Change.CLEARED not in kinds(w.subject(t + 180, bar, acc=10.0, speed=0.0))
    assert Change.CLEARED not in kinds(w.subject(t + 240, HIS_HOME, acc=80.0, source=FixSource.WIFI))
    assert Change.CLEARED in kinds(w.subject(t + 300, HIS_HOME, acc=80.0, source=FixSource.WIFI))


def test_a_curfew_absence_ends_on_wifi_fixes_at_home_minutes_apart() -> None:
    """Home indoors, his monitor gets a Wi-Fi fix every 7 minutes (cell fixes between): the second
    ends the absence (a 5-minute window kept him under a curfew alarm all night)."""
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 21))
    t = seconds(kst(11, 22, 30))
    w.subject(t, near(1000, 0, HIS_HOME), acc=10.0, speed=5.0)
    assert w.engine.book.for_key(next(iter(w.engine.book)).key).active  # type: ignore[union-attr]
    w.subject(t + 300, HIS_HOME, acc=80.0, source=FixSource.WIFI)
    w.subject(t + 500, near(400, 0, HIS_HOME), acc=1500.0, source=FixSource.CELL)
    assert Change.CLEARED in kinds(w.subject(t + 720, HIS_HOME, acc=80.0, source=FixSource.WIFI))


def test_curfew_absence_needs_the_95_percent_disc_outside_and_return_needs_the_margin() -> None:
    """150 m home circle, 40 m accuracy: absent only beyond 150 + 2 x 40 = 230 m."""
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 21))
    t = seconds(kst(11, 23))
    assert w.subject(t, near(200, 0, HIS_HOME), acc=40.0) == []  # outside, but within 2 x accuracy
    assert w.subject(t + 5, near(229, 0, HIS_HOME), acc=40.0) == []
    assert w.subject(t + 10, near(231, 0, HIS_HOME), acc=40.0) == []  # absent, not yet confirmed
    assert summary(w.subject(t + 15, near(232, 0, HIS_HOME), acc=40.0)) == [(Change.OPENED, ZONE)]
    # back just inside the boundary: not yet (must be 25 m inside)
    assert Change.CLEARED not in kinds(w.subject(t + 20, near(140, 0, HIS_HOME)))
    assert w.subject(t + 30, near(126, 0, HIS_HOME)) == []
    assert w.only_alert().active
    assert kinds(w.subject(t + 40, near(124, 0, HIS_HOME))) == [Change.CLEARED]


def test_a_weekday_curfew_runs_past_midnight_into_the_next_day() -> None:
    # Friday nights only: 2026-05-15 is a Friday.
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul", days="fri"), kst(11, 12))
    out = near(2000, 0, HIS_HOME)
    assert w.subject(seconds(kst(14, 23)), out) == []  # Thursday night: no curfew
    assert w.subject(seconds(kst(14, 23)) + 60, out) == []
    assert w.engine.next_deadline() == kst(15, 22)
    assert summary(w.tick(kst(15, 22))) == [(Change.OPENED, ZONE)]
    assert w.engine.next_deadline() == kst(16, 6)  # Saturday morning
    assert kinds(w.tick(kst(16, 6))) == [Change.CLEARED]
    assert w.tick(kst(16, 6, 5)) == []  # its pursuit mode ends after the hold
    assert w.engine.next_deadline() == kst(22, 22)  # the next Friday


# --- a schedule is local time: Berlin, across DST ---------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        # spring forward on Sunday 2026-03-29: a 7-hour night
        (datetime(2026, 3, 28, 21, tzinfo=UTC), datetime(2026, 3, 29, 4, tzinfo=UTC), 7),
        # fall back on Sunday 2026-10-25: a 9-hour night
        (datetime(2026, 10, 24, 20, tzinfo=UTC), datetime(2026, 10, 25, 5, tzinfo=UTC), 9),
    ],
)
def test_curfew_in_berlin_across_a_dst_change(start: datetime, end: datetime, hours: int) -> None:
    assert start.astimezone(BERLIN).time() == time(22)
    assert end.astimezone(BERLIN).time() == time(6)
    assert end - start == timedelta(hours=hours)

    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Europe/Berlin"), start - timedelta(hours=2))
    assert w.subject(seconds(start - timedelta(minutes=2)), near(2000, 0, HIS_HOME)) == []
    assert w.subject(seconds(start - timedelta(minutes=1)), near(2000, 0, HIS_HOME)) == []
    assert w.engine.next_deadline() == start
    assert summary(w.tick(start)) == [(Change.OPENED, ZONE)]
    assert w.engine.next_deadline() == end
    assert w.tick(end - timedelta(microseconds=1)) == []
    # Through the night, including the hour the clocks change, he stays out: nothing new.
    for step in range(1, hours * 4):
        when = start + timedelta(minutes=15 * step)
        assert w.subject(seconds(when), near(2000, 0, HIS_HOME)) == [], when
    assert kinds(w.tick(end)) == [Change.CLEARED]


def test_the_same_instant_is_curfew_in_seoul_but_not_in_berlin() -> None:
    # 22:00 in Seoul is 15:00 in Berlin (summer time).
    instant = kst(11, 22)
    for tz, expected in (("Asia/Seoul", [(Change.OPENED, ZONE)]), ("Europe/Berlin", [])):
        w = World(with_order=False, devices=QUIET)
        w.subject(seconds(instant - timedelta(minutes=2)), near(2000, 0, HIS_HOME))
        w.subject(seconds(instant - timedelta(minutes=1)), near(2000, 0, HIS_HOME))
        assert summary(w.engine.put_zone(home_curfew(tz), instant)) == expected, tz


def test_a_scheduled_exclusion_zone_only_counts_in_its_hours() -> None:
    # Her school, from 08:00 to 16:00 Seoul time on weekdays.
    school = circle_zone(
        "school", FAR, 200, schedule=curfew("Asia/Seoul", "mon tue wed thu fri", "08:00", "16:00")
    )
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(school, kst(11, 7))
    # (a fix of 07:55: one of 07:30 is no longer current at 08:00, see school_zone below)
    assert w.subject(seconds(kst(11, 7, 55)), FAR) == []
    assert w.engine.next_deadline() == kst(11, 8)
    assert summary(w.tick(kst(11, 8))) == [(Change.OPENED, ZONE)]
    assert kinds(w.tick(kst(11, 16))) == [Change.CLEARED]


def test_fix_is_judged_against_the_schedule_at_the_processing_time() -> None:
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 21))
    # A fix measured before 22:00 but processed after is judged with the curfew on.
    measured = kst(11, 21, 59)
    processed = kst(11, 22, 1)
    w.engine.on_fix(fix(ANKLE, kst(11, 21, 58), near(2000, 0, HIS_HOME)), processed, processed)
    changes = w.engine.on_fix(fix(ANKLE, measured, near(2000, 0, HIS_HOME)), processed, processed)
    assert summary(changes) == [(Change.OPENED, ZONE)]


def test_victim_home_is_not_a_place_for_the_curfew_rule() -> None:
    # an inclusion zone is about the subject only; the victim's fixes never touch it
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 21))
    assert w.tick(kst(11, 22)) == []  # he has no position at all: nothing to judge
    assert w.victim(seconds(kst(11, 23)), HOME) == []


def test_putting_a_scheduled_zone_again_does_not_grow_the_timer() -> None:
    w = World(with_order=False, devices=QUIET)
    for minute in range(50):
        w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 12, minute))
    assert len(w.engine._deadlines) == 1
    w.subject(seconds(kst(11, 21)), near(2000, 0, HIS_HOME))
    w.subject(seconds(kst(11, 21)) + 60, near(2000, 0, HIS_HOME))
    # each boundary is judged once
    assert summary(w.tick(kst(11, 22))) == [(Change.OPENED, ZONE)]
    assert kinds(w.tick(kst(12, 6))) == [Change.CLEARED]
    assert sorted(kind for _, _, kind, _ in w.engine._deadlines) == ["location", "schedule", "silence"]


def test_an_orders_scheduled_zone_put_again_does_not_grow_the_timer() -> None:
    zone = circle_zone(
        "curfew", HIS_HOME, 150, ZoneKind.INCLUSION, subject_id=None, schedule=curfew("Asia/Seoul")
    )
    w = World(order(zones=(zone,)), devices=QUIET)
    for minute in range(50):
        w.engine.put_order(order(zones=(zone,)), kst(11, 12, minute))
    assert len(w.engine._deadlines) == 1


def test_a_zone_replaced_with_another_schedule_follows_the_new_one() -> None:
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 12))
    w.engine.put_zone(home_curfew("Asia/Seoul", start="20:00", end="05:00"), kst(11, 13))
    w.subject(seconds(kst(11, 19, 58)), near(2000, 0, HIS_HOME))
    w.subject(seconds(kst(11, 19, 59)), near(2000, 0, HIS_HOME))
    assert w.engine.next_deadline() == kst(11, 20)
    assert summary(w.tick(kst(11, 20))) == [(Change.OPENED, ZONE)]
    assert w.tick(kst(11, 22)) == []  # the old schedule's boundary is gone
    assert kinds(w.tick(kst(12, 5))) == [Change.CLEARED]
    assert w.tick(kst(12, 6)) == []


def test_a_removed_zone_leaves_nothing_on_the_timer() -> None:
    w = World(with_order=False, devices=QUIET)
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 12))
    w.engine.remove_zone("curfew", kst(11, 13))
    w.subject(seconds(kst(11, 21)), near(2000, 0, HIS_HOME))
    assert w.tick(kst(11, 22)) == []
    w.engine.put_zone(home_curfew("Asia/Seoul"), kst(11, 23))
    assert w.engine.next_deadline() == kst(12, 6)


# --- an exclusion zone whose schedule began after his position was measured -------------------------


def school_zone() -> Zone:
    """An exclusion zone around a school, counting on weekdays 08:00-16:00 (Seoul)."""
    schedule = curfew("Asia/Seoul", days="mon tue wed thu fri", start="08:00", end="16:00")
    return circle_zone("school", FAR, 200, schedule=schedule, label="school")


def test_a_late_fix_by_the_school_before_its_zone_counted_is_no_violation_now() -> None:
    """His 07:30 fix at the school, uploaded at 09:00: he was allowed there then, and a position 90
    minutes old does not say he is there now that the zone counts."""
    w = World(with_order=False)
    w.engine.put_zone(school_zone(), kst(11, 6))
    w.subject(seconds(kst(11, 7)), near(1500, 0, FAR), acc=10.0)
    late = w.subject(seconds(kst(11, 7, 30)), FAR, acc=10.0, received=seconds(kst(11, 9)))
    assert ZONE not in kinds(late)


def test_a_late_fix_by_the_school_while_its_zone_counted_is_a_late_violation() -> None:
    w = World(with_order=False)
    w.engine.put_zone(school_zone(), kst(11, 6))
    w.subject(seconds(kst(11, 7)), near(1500, 0, FAR), acc=10.0)
    late = w.subject(seconds(kst(11, 8, 10)), FAR, acc=10.0, received=seconds(kst(11, 9)))
    (opened,) = [c for c in late if c.alert.kind is ZONE]
    assert opened.change is Change.OPENED and opened.alert.late


def test_a_silent_monitors_old_fix_by_the_school_opens_nothing_when_the_zone_starts_to_count() -> None:
    """Silent since 07:30 by the school: at 08:00 signal_loss is open and the zone starts to count;
    half an hour old, that fix no longer says where he is. Five minutes old, it still does."""
    w = World(with_order=False)
    w.engine.put_zone(school_zone(), kst(11, 6))
    w.subject(seconds(kst(11, 7, 30)), FAR, acc=10.0)
    assert ZONE not in kinds(w.tick(kst(11, 8)))
    fresh = World(with_order=False)
    fresh.engine.put_zone(school_zone(), kst(11, 6))
    fresh.subject(seconds(kst(11, 7, 55)), FAR, acc=10.0)
    assert (Change.OPENED, ZONE) in summary(fresh.tick(kst(11, 8)))


def test_a_slow_monitors_fix_by_the_school_is_current_when_the_zone_starts_to_count() -> None:
    """A monitor set to report every 40 minutes, last at 07:30 by the school: at 08:00 that is his
    current position (his next report is not due): the zone opens."""
    slow = replace(QUIET[0], report_interval_s=2400.0)
    w = World(with_order=False, devices=(slow, *QUIET[1:]))
    w.engine.put_zone(school_zone(), kst(11, 6))
    w.subject(seconds(kst(11, 7, 30)), FAR, acc=10.0)
    assert (Change.OPENED, ZONE) in summary(w.tick(kst(11, 8)))
