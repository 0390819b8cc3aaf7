"""His position much older than hers (rules/proximity.py `assess`): it can warn, but cannot prove a
violation of where she is now. Her position older than his still can; a late batch is judged
against where she was at each fix time by the late path, as before."""

from __future__ import annotations

from dataclasses import replace

from rules_kit import (
    ANKLE_MONITOR,
    DEVICES,
    FAR,
    HOME,
    VICTIM,
    VICTIM_PHONE,
    VICTIM_WATCH,
    World,
    near,
    order,
)

from vigil.domain.alerts import AlertKind, Change

WORK = near(5000, 90)  # her workplace, 5 km from home


def _proximity(changes: list) -> list[tuple[Change, AlertKind, tuple[str, ...]]]:  # type: ignore[type-arg]
    return [
        (c.change, c.alert.kind, c.alert.facts.stale)
        for c in changes
        if c.alert.kind in (AlertKind.PROXIMITY_WARNING, AlertKind.PROXIMITY_VIOLATION)
    ]


def test_her_arriving_where_he_was_40_minutes_before_warns_and_proves_nothing() -> None:
    w = World()
    w.victim(0, HOME)
    assert _proximity(w.subject(0, near(40, 0, WORK))) == []  # he is at her workplace; she is home
    # his monitor says nothing more; she goes to work
    w.victim(2400, near(3000, 90))
    arrived = _proximity(w.victim(2460, WORK))
    assert arrived == [(Change.OPENED, AlertKind.PROXIMITY_WARNING, ("subject",))]


def test_his_fresh_fix_at_her_door_while_her_phone_is_stale_is_still_a_violation() -> None:
    w = World()
    w.victim(0, HOME)  # her last fix: home
    w.subject(0, FAR)
    changes = _proximity(w.subject(1800, near(50)))  # 30 minutes later he is at her door
    assert changes and changes[-1][1] is AlertKind.PROXIMITY_VIOLATION


def test_a_late_batch_is_judged_where_she_was_then_and_warns_only_of_where_she_is_now() -> None:
    """His fixes of 08:30 to 09:05 reach the centre at 10:00; she was at home then, at work now,
    40 m from where he was. No violation: not at the time (she was 5 km away), nor now (his newest
    position is 55 minutes old): a warning, stale."""
    w = World()
    w.victim(0, HOME)
    w.subject(0, FAR)
    for t in range(60, 2400, 60):
        w.victim(t, HOME)
    w.victim(2400, near(3000, 90))
    for t in range(2460, 6000, 60):  # at work from 2460 s, reporting every minute
        assert _proximity(w.victim(t, WORK)) == []
    late = []
    for t in range(300, 2400, 300):  # his fixes of 300 to 2100 s, 40 m from her workplace, all at 6000 s
        late += w.subject(t, near(40, 0, WORK), received=6000)
    got = _proximity(late)
    assert got and all(kind is AlertKind.PROXIMITY_WARNING for _, kind, _ in got), got
    assert got[0][0] is Change.OPENED and "subject" in got[0][2]
    assert w.engine.book.for_key(next(iter(w.engine.book)).key).protected_person_id == VICTIM  # type: ignore[union-attr]


def _home_then_work(at_work: int, until: int) -> World:
    """He far off at 0 s and silent since; she at home, reporting every minute, then at work from
    `at_work` until `until` (seconds)."""
    w = World()
    w.victim(0, HOME)
    w.subject(0, FAR)
    for t in range(60, at_work, 60):
        w.victim(t, HOME)
    for t in range(at_work, until, 60):
        w.victim(t, WORK)
    return w


def test_a_late_batchs_older_fixes_are_not_judged_against_where_she_is_now() -> None:
    """The upload of 2950 s holds his fixes of 2000-2300 s, 40 m from her workplace (she was at home
    then, 5 km away), then his newest, far off. Only the newest is his live position: the older ones,
    each live for an instant, opened and cleared a stale warning each (and pursuit mode with it).
    Judged at their own times, where she was then: nothing."""
    w = _home_then_work(2460, 3000)
    late = []
    for t in range(2000, 2400, 100):
        late += w.subject(t, near(40, 0, WORK), received=2950, followed=True)
    late += w.subject(2940, FAR, received=2950)
    assert _proximity(late) == []


def test_a_late_batchs_older_fix_still_reveals_a_breach_at_its_own_time() -> None:
    """His fix at her door while she was at home, in an upload 12 minutes later whose newest fix is
    far: a late violation, opened and cleared at once (he has gone; she is at work now)."""
    w = _home_then_work(2100, 2800)
    late = w.subject(2000, near(40, 0, HOME), received=2720, followed=True)
    late += w.subject(2710, FAR, received=2720)
    got = _proximity(late)
    assert [(change, kind) for change, kind, _ in got] == [
        (Change.OPENED, AlertKind.PROXIMITY_VIOLATION),
        (Change.CLEARED, AlertKind.PROXIMITY_VIOLATION),
    ]
    assert all(c.alert.late for c in late if c.alert.kind is AlertKind.PROXIMITY_VIOLATION)


def test_a_slow_monitors_position_stands_for_two_of_its_intervals() -> None:
    """A monitor set to report every 40 minutes: its fix at her workplace 20 minutes before she
    arrives is his current position (his next report is not even due), so her arrival is a
    violation. The same fix from a monitor reporting every minute is out of date: a warning."""
    slow = replace(ANKLE_MONITOR, report_interval_s=2400.0, silence_limit_s=3 * 2400.0)
    for devices, expected in (
        ((slow, VICTIM_PHONE, VICTIM_WATCH), AlertKind.PROXIMITY_VIOLATION),
        (DEVICES, AlertKind.PROXIMITY_WARNING),
    ):
        w = World(devices=devices)
        w.victim(0, HOME)
        w.subject(0, near(40, 0, WORK))
        w.victim(600, near(3000, 90))
        arrived = _proximity(w.victim(1200, WORK))
        assert [(change, kind) for change, kind, _ in arrived] == [(Change.OPENED, expected)]


def test_her_fix_measured_moving_minutes_ago_proves_no_violation_of_where_she_is_now() -> None:
    """Her phone reports every 5 minutes; its last fix measured her on a bus at 10 m/s. He drives
    the same road behind her: at her fix of 4 minutes before he is within 100 m of where she was,
    and 2.4 km from her. A warning, not a violation pushed to police."""
    w = World()
    w.victim(0, HOME, speed=10.0, heading=90.0)
    changes = _proximity(w.subject(240, near(40, 90), speed=10.0))
    assert [(c, k) for c, k, _ in changes] == [(Change.OPENED, AlertKind.PROXIMITY_WARNING)]


def test_her_fix_measured_still_minutes_ago_still_proves_a_violation() -> None:
    w = World()
    w.victim(0, HOME, speed=0.0)
    changes = _proximity(w.subject(240, near(40, 90), speed=10.0))
    assert [(c, k) for c, k, _ in changes] == [(Change.OPENED, AlertKind.PROXIMITY_VIOLATION)]


def test_her_moving_fix_of_a_minute_ago_is_carried_on_to_now() -> None:
    """Within two usual reports a moving fix stands, carried on along its velocity to the instant
    judged: a man 40 m from where her car is now (600 m on from her fix of a minute before) is
    possibly within the line, a prediction her next fix confirms; one at where she was a minute ago
    is 560 m behind her, a warning."""
    w = World()
    w.victim(0, HOME, speed=10.0, heading=90.0)
    changes = _proximity(w.subject(60, near(560, 90), speed=10.0, heading=90.0))
    assert [(c, k) for c, k, _ in changes] == [(Change.OPENED, AlertKind.PROXIMITY_WARNING)]
    changes = _proximity(w.victim(70, near(700, 90), speed=10.0, heading=90.0))
    assert (Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION) in [(c, k) for c, k, _ in changes]
    w = World(order(warning=1000))
    w.victim(0, HOME, speed=10.0, heading=90.0)
    changes = _proximity(w.subject(60, near(40, 90), speed=10.0))
    assert [(c, k) for c, k, _ in changes] == [(Change.OPENED, AlertKind.PROXIMITY_WARNING)]


def test_a_car_tailing_hers_40_m_behind_is_a_violation_though_their_fixes_take_turns() -> None:
    """Both report every 15 s, his fixes 8 s after hers, at 25 m/s: judged each against the other's
    last fix he was 240 m behind where she had been, and no violation was raised."""
    w = World(order(warning=1000))
    raised = []
    for k in range(8):
        t = 15 * k
        raised += _proximity(w.victim(t, near(25 * t, 90), speed=25.0, heading=90.0))
        raised += _proximity(w.subject(t + 8, near(25 * (t + 8) - 40, 90), speed=25.0, heading=90.0))
    assert (Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION) in [(c, k) for c, k, _ in raised] or (
        Change.OPENED,
        AlertKind.PROXIMITY_VIOLATION,
    ) in [(c, k) for c, k, _ in raised]


def test_his_fix_measured_moving_minutes_before_hers_proves_no_violation() -> None:
    """The same for him: his monitor last measured him driving 3 minutes before; her arriving where
    he was then is a warning."""
    w = World()
    w.victim(0, FAR)
    w.subject(0, near(40), speed=12.0)
    changes = _proximity(w.victim(180, HOME))
    assert [(c, k) for c, k, _ in changes] == [(Change.OPENED, AlertKind.PROXIMITY_WARNING)]


def test_a_device_clock_minutes_fast_does_not_make_her_fresh_moving_fix_look_old() -> None:
    """His monitor's clock runs 4 minutes fast (believed: under the 5-minute limit) while he sits
    parked; she walks past his car 40 m away. Her fix, by the devices' clocks 4 minutes older than
    his, was taken for a position she had moved on from: only a warning. Silence is counted by the
    server's clock: her watch reports now."""
    w = World()
    w.subject(240, near(40), speed=0.0, received=0)  # stamped 4 minutes ahead of its receipt
    changes = _proximity(w.victim(30, HOME, speed=1.3))
    assert changes and changes[-1][1] is AlertKind.PROXIMITY_VIOLATION


def test_speed_noise_of_her_phone_at_a_standstill_is_no_movement() -> None:
    """Her phone on the table reports 1.3 m/s fix after fix at the same spot (every 5 minutes); he
    parks 30 m from her door 150 s after her last fix: a violation at once, as for a phone that
    reports 0 m/s."""
    w = World()
    w.victim(0, HOME, speed=1.3)
    w.victim(300, HOME, speed=1.3)
    changes = _proximity(w.subject(450, near(30), speed=0.0))
    assert [(c, k) for c, k, _ in changes] == [(Change.OPENED, AlertKind.PROXIMITY_VIOLATION)]


def test_a_carried_approach_that_stopped_short_is_no_violation() -> None:
    """His last fix 150 m from her door at 14 m/s heading for it; he brakes for a red light 125 m
    out. Carried on, her watch's next fix had him at her door, "certainly": a prediction is not
    evidence. His next fix, stopped 125 m out, settles it: a warning only."""
    w = World(order(warning=1000))
    w.victim(0, HOME, speed=0.0)
    w.subject(10, near(150, 90), speed=14.0, heading=270.0)
    w.victim(18, HOME, speed=0.0)
    w.subject(30, near(125, 90), speed=0.0)
    w.victim(38, HOME, speed=0.0)
    kinds = {a.kind for a in w.open_alerts()}
    assert AlertKind.PROXIMITY_VIOLATION not in kinds
