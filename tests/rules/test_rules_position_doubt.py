"""Positions that cannot be true: judged against the person's believed positions, they move no one
and feed no rule; repeated ones raise position_doubt for the operators, one alert per person."""

from __future__ import annotations

from rules_kit import FAR, HOME, PHONE, VICTIM, WATCH, World, at, fix, near, summary

from vigil.domain.alerts import AlertKind, AlertState, Change
from vigil.domain.model import DeviceEvent, EventKind
from vigil.rules import position_doubt
from vigil.rules.engine import Engine
from vigil.rules.tuning import Tuning

FAR_OFF = near(8_000, 200)  # where a forger puts her, 8 km from home


def vetted(world: World, seconds: float, where: tuple[float, float], acc: float = 10.0) -> list:
    """Her app's report, as the single writer takes it: judged first, then placed or only counted."""
    when = at(seconds)
    reported = fix(PHONE, when, where, acc=acc)
    doubt = world.engine.doubt(reported)
    if doubt is None:
        return world.record(world.engine.on_fix(reported, when, when))
    return world.record(world.engine.on_doubted(reported, doubt, when, when))


def doubt_alerts(world: World) -> list:
    return [a for a in world.open_alerts() if a.kind is AlertKind.POSITION_DOUBT]


def test_an_implausible_position_moves_no_one_and_feeds_no_rule() -> None:
    world = World()
    world.subject(0, FAR)  # he is 8.8 km from her home
    vetted(world, 1, HOME)
    # a forged report right next to him, a second later: a violation if it were believed
    changes = vetted(world, 2, near(30, 0, FAR))
    assert changes == []
    assert world.engine.tracks[VICTIM].latest is not None
    assert world.engine.tracks[VICTIM].latest.time == at(1)  # still home
    assert world.open_alerts() == []


def test_three_within_ten_minutes_raise_one_alert_then_update_it() -> None:
    world = World()
    vetted(world, 0, HOME)
    assert vetted(world, 10, FAR_OFF) == []
    assert vetted(world, 20, near(8_000, 90)) == []
    opened = vetted(world, 30, near(8_000, 0))
    assert summary(opened) == [(Change.OPENED, AlertKind.POSITION_DOUBT)]
    alert = opened[0].alert
    assert alert.protected_person_id == VICTIM and alert.subject_id is None
    assert alert.facts.device_id == PHONE
    assert alert.facts.subject_position is None and alert.facts.protected_position is None
    assert "3 implausible positions within 10 min" in opened[0].note
    assert "may be in someone else's hands" in opened[0].note
    assert "speed: " in opened[0].note
    again = vetted(world, 40, near(8_000, 45))
    assert summary(again) == [(Change.UPDATED, AlertKind.POSITION_DOUBT)]
    assert again[0].alert.id == alert.id and "4 implausible positions" in again[0].note
    assert len(doubt_alerts(world)) == 1


def test_doubts_spread_wider_than_the_window_raise_nothing() -> None:
    world = World()
    vetted(world, 0, HOME)
    for minute in (1, 7, 13, 19):
        assert vetted(world, minute * 60, near(8_000, minute)) == []
    assert doubt_alerts(world) == []


def test_the_threshold_and_window_are_tuning_knobs() -> None:
    world = World(tuning=Tuning(doubt_alert_count=2, doubt_alert_window_s=60))
    vetted(world, 0, HOME)
    vetted(world, 10, FAR_OFF)
    assert summary(vetted(world, 20, near(8_000, 10))) == [(Change.OPENED, AlertKind.POSITION_DOUBT)]


def test_a_believed_position_after_the_window_ends_the_condition() -> None:
    world = World()
    vetted(world, 0, HOME)
    for second in (10, 20, 30):
        vetted(world, second, near(8_000, second))
    assert vetted(world, 60, near(20)) == []  # believed, but the doubts are still recent
    cleared = vetted(world, 700, near(40))
    assert summary(cleared) == [(Change.CLEARED, AlertKind.POSITION_DOUBT)]
    assert cleared[0].alert.state is AlertState.OPEN  # a person still closes it


def test_closed_by_a_person_while_it_goes_on_it_does_not_reopen_until_it_recurs() -> None:
    world = World()
    vetted(world, 0, HOME)
    for second in (10, 20, 30):
        vetted(world, second, near(8_000, second))
    [alert] = doubt_alerts(world)
    world.engine.move(alert.id, AlertState.RESOLVED, actor="op", now=at(35))
    assert vetted(world, 40, near(8_000, 40)) == []  # the same bout: not again
    assert doubt_alerts(world) == []
    vetted(world, 1_000, near(30))  # believed, long after: the bout is over
    for second in (1_010, 1_020, 1_030):
        changes = vetted(world, second, near(8_000, second))
    assert summary(changes) == [(Change.OPENED, AlertKind.POSITION_DOUBT)]
    assert changes[0].alert.id != alert.id


def test_a_doubted_report_still_proves_the_device_alive() -> None:
    world = World()
    vetted(world, 0, HOME)
    vetted(world, 10, FAR_OFF)
    assert world.engine._heard[PHONE] == at(10)


def test_an_sos_always_raises_and_its_doubted_place_is_not_hers() -> None:
    """What the writer does with her SOS: the alarm raises at her last believed position; the place it
    claims, doubted, is only counted."""
    world = World()
    vetted(world, 0, HOME)
    when = at(5)
    claimed = fix(PHONE, when, FAR_OFF, acc=10)
    doubt = world.engine.doubt(claimed)
    assert doubt is not None
    changes = world.engine.on_event(DeviceEvent(PHONE, when, EventKind.SOS), when, when)
    changes += world.engine.on_doubted(claimed, doubt, when, when)
    assert summary(changes) == [(Change.OPENED, AlertKind.SOS)]
    position = changes[0].alert.facts.protected_position
    assert position is not None and (position.lat, position.lon) == HOME


def test_other_devices_of_hers_anchor_the_check() -> None:
    world = World()
    world.report(WATCH, 0, HOME, acc=10)  # her watch, not vetted, is believed
    assert world.engine.doubt(fix(PHONE, at(5), FAR_OFF, acc=10)) is not None


def test_after_a_restart_an_open_alarm_ends_at_her_next_believed_position() -> None:
    world = World()
    vetted(world, 0, HOME)
    for second in (10, 20, 30):
        vetted(world, second, near(8_000, second))
    restarted = Engine()
    for device in world.engine.devices.values():
        restarted.put_device(device)
    restarted.restore([fix(PHONE, at(0), HOME, acc=10)], {}, world.open_alerts(), at(40))
    later = at(60)
    changes = restarted.on_fix(fix(PHONE, later, near(20), acc=10), later, later)
    assert summary(changes) == [(Change.CLEARED, AlertKind.POSITION_DOUBT)]
    assert position_doubt.key(VICTIM) == changes[0].alert.key
