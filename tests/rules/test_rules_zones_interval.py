"""Zones without churn: the curfew's confirmation window follows the device's reporting interval, and
every zone verdict says its tier now and its peak."""

from __future__ import annotations

from dataclasses import replace

from rules_kit import ANKLE_MONITOR, HOME, World, at, circle_zone, near

from vigil.domain.alerts import AlertKind, Change
from vigil.domain.model import Schedule, ZoneKind
from vigil.rules import zones
from vigil.rules.tuning import Tuning

ALWAYS = Schedule(windows=(), timezone="Asia/Seoul")


def test_the_window_is_five_intervals_and_never_below_the_default() -> None:
    tuning = Tuning()
    assert zones.confirm_window(None, tuning) == 300
    assert zones.confirm_window(15, tuning) == 300
    assert zones.confirm_window(60, tuning) == 300
    assert zones.confirm_window(300, tuning) == 1500


def _curfew_world(interval: float | None) -> World:
    monitor = replace(ANKLE_MONITOR, report_interval_s=interval, silence_limit_s=86400.0)
    w = World(with_order=False, devices=(monitor,))
    w.engine.put_zone(circle_zone("home", HOME, 150, ZoneKind.INCLUSION, schedule=ALWAYS), at(0))
    return w


def test_a_slow_reporters_absence_is_confirmed_by_its_next_fix() -> None:
    """Two absent fixes at a standstill 301 s apart: confirmed for a 300 s reporter."""
    w = _curfew_world(300.0)
    assert w.subject(0, near(900), acc=10, speed=0.0) == []
    (opened,) = w.subject(301, near(900), acc=10, speed=0.0)
    assert (opened.change, opened.alert.kind) == (Change.OPENED, AlertKind.ZONE_VIOLATION)
    assert (opened.alert.facts.tier, opened.alert.facts.peak_tier) == ("violation", "violation")
    (back,) = w.subject(602, HOME, acc=10, speed=0.0)
    assert back.change is Change.CLEARED
    assert (back.alert.facts.tier, back.alert.facts.peak_tier) == (None, "violation")


def test_a_fast_reporter_keeps_the_default_window() -> None:
    w = _curfew_world(60.0)
    assert w.subject(0, near(900), acc=10, speed=0.0) == []
    assert w.subject(301, near(900), acc=10, speed=0.0) == []  # too far apart to confirm each other


def test_the_learned_interval_counts_too() -> None:
    monitor = replace(ANKLE_MONITOR, silence_limit_s=86400.0)
    w = World(with_order=False, devices=(monitor,))
    for n in range(4):  # at 300 s, home
        w.subject(300 * n, HOME, acc=10, speed=0.0)
    w.engine.put_zone(circle_zone("home", HOME, 150, ZoneKind.INCLUSION, schedule=ALWAYS), at(1000))
    assert w.subject(1200, near(900), acc=10, speed=0.0) == []
    (opened,) = w.subject(1502, near(900), acc=10, speed=0.0)
    assert opened.alert.kind is AlertKind.ZONE_VIOLATION
