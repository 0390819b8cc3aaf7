"""The device-clock rule on its own: which times are believed, and when doubted reports are judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.domain.model import ALARM_EVENTS, ClockDoubt, EventKind
from vigil.rules import device_clock
from vigil.rules.device_clock import Receipt, doubt, judged_times, kept
from vigil.rules.tuning import Tuning

NOW = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)
TUNING = Tuning()
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("claimed", "last", "expected"),
    [
        (NOW, None, None),
        (NOW + 5 * MIN, None, None),  # drift within the limit
        (NOW + 5 * MIN + timedelta(seconds=1), None, ClockDoubt.FUTURE),
        (NOW - timedelta(days=30), None, None),  # a first report long ago: late, not doubted
        (NOW - timedelta(hours=23), NOW, None),  # a late batch sent after newer reports
        (NOW - timedelta(hours=25), NOW, ClockDoubt.BEHIND),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), None, ClockDoubt.GARBAGE),
        (datetime(1980, 1, 6, tzinfo=UTC), NOW, ClockDoubt.GARBAGE),
        (NOW + timedelta(days=367), None, ClockDoubt.GARBAGE),
        (NOW + timedelta(days=30), None, ClockDoubt.FUTURE),
    ],
)
def test_which_times_are_believed(
    claimed: datetime, last: datetime | None, expected: ClockDoubt | None
) -> None:
    assert doubt(claimed, NOW, last, TUNING) is expected


def test_the_future_counts_from_the_newest_receipt_when_the_clock_went_back() -> None:
    stepped_back = NOW - 10 * MIN
    assert doubt(NOW + MIN, stepped_back, None, TUNING) is ClockDoubt.FUTURE  # without the mark
    assert doubt(NOW + MIN, stepped_back, None, TUNING, newest_receipt=NOW) is None
    assert doubt(NOW + MIN, NOW, None, TUNING, newest_receipt=NOW - MIN) is None  # an older mark: no effect


def test_the_limits_are_knobs() -> None:
    tight = Tuning(clock_future_s=10, clock_behind_s=60)
    assert doubt(NOW + timedelta(seconds=11), NOW, None, tight) is ClockDoubt.FUTURE
    assert doubt(NOW - timedelta(seconds=61), NOW, NOW, tight) is ClockDoubt.BEHIND


def test_alarms_are_every_event_but_the_routine_ones() -> None:
    assert {EventKind.HEARTBEAT, EventKind.BLE_CONTACT, EventKind.CHARGING}.isdisjoint(ALARM_EVENTS)
    assert {EventKind.STRAP_CUT, EventKind.REMOVAL, EventKind.SOS, EventKind.POWER_OFF} <= ALARM_EVENTS
    assert EventKind.BATTERY_LOW in ALARM_EVENTS


def test_doubted_reports_of_one_request_keep_their_spacing_and_the_newest_is_at_receipt() -> None:
    claims = [NOW + 10 * MIN, NOW + 9 * MIN, NOW + 11 * MIN]
    assert judged_times(claims, NOW, TUNING) == [NOW - MIN, NOW - 2 * MIN, NOW]
    assert judged_times([datetime(1980, 1, 6, tzinfo=UTC)], NOW, TUNING) == [NOW]


def test_a_clock_that_jumped_within_a_request_is_judged_at_receipt_and_never_twice_at_an_instant() -> None:
    claims = [NOW + 10 * MIN, datetime(2001, 1, 1, tzinfo=UTC), datetime(2001, 1, 2, tzinfo=UTC)]
    tick = timedelta(microseconds=1)
    assert judged_times(claims, NOW, TUNING) == [NOW, NOW - tick, NOW - 2 * tick]
    assert judged_times([NOW, NOW], NOW - MIN, TUNING) == [NOW - MIN, NOW - MIN - tick]


def test_a_claimed_time_is_kept_within_what_every_store_reads_back() -> None:
    assert kept(datetime.min.replace(tzinfo=UTC)) == device_clock.KEPT_FROM
    assert kept(datetime.max.replace(tzinfo=UTC)) == device_clock.KEPT_UNTIL
    assert kept(NOW) == NOW


aware = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=st.just(UTC)
)


@given(claimed=aware, last=st.none() | aware, received=aware, newest=st.none() | aware)
def test_any_time_gets_a_verdict(
    claimed: datetime, last: datetime | None, received: datetime, newest: datetime | None
) -> None:
    verdict = Receipt(received, newest, TUNING).doubt(claimed, last)
    if device_clock.GARBAGE_BEFORE <= claimed <= received and (last is None or claimed >= last):
        assert verdict is None


@given(st.lists(aware, min_size=1, max_size=20))
def test_judged_times_are_distinct_recent_and_in_the_claimed_order(claims: list[datetime]) -> None:
    times = judged_times(claims, NOW, TUNING)
    assert len(set(times)) == len(times)
    spread = timedelta(seconds=TUNING.clock_behind_s)
    assert all(NOW - spread - timedelta(microseconds=len(claims)) <= at <= NOW for at in times)
    if len(set(claims)) == len(claims) and max(claims) - min(claims) <= spread:
        # a track buffered by a wrong clock keeps its order and its intervals
        assert sorted(range(len(claims)), key=claims.__getitem__) == sorted(
            range(len(times)), key=times.__getitem__
        )
        steps = zip(claims, claims[1:], times, times[1:], strict=False)
        assert all(b - a == at_b - at_a for a, b, at_a, at_b in steps)


def test_a_proximity_or_zone_alert_on_a_retimed_fix_says_its_clock_was_not_believed() -> None:
    """His monitor's clock 3 h fast: the processor judges its fixes at receipt and marks them; the
    alert they raise carries the mark, so operators and courts see the position's time was the
    server's (before: only alarms carried it)."""
    from dataclasses import replace

    from rules_kit import ANKLE, World, at, circle_zone, fix, near, order

    from vigil.domain.model import ClockSuspect

    w = World(order(zones=(circle_zone("work", near(3000, 0), 200, subject_id=None),)))
    w.victim(0)
    mark = ClockSuspect(ClockDoubt.FUTURE, at(3 * 3600), at(60))
    near_her = replace(fix(ANKLE, at(60), near(40)), clock_suspect=mark)
    (opened,) = w.engine.on_fix(near_her, at(60), at(60))
    assert opened.alert.facts.clock_suspect == mark
    # ... and, as an alarm's does, says when it occurred: at the receipt it was judged at
    assert opened.alert.facts.occurred_at == at(60)
    at_work = replace(fix(ANKLE, at(120), near(3000, 0)), clock_suspect=mark)
    zone = [c for c in w.engine.on_fix(at_work, at(120), at(120)) if c.alert.key.family == "zone"]
    assert zone and zone[0].alert.facts.clock_suspect == mark
    assert zone[0].alert.facts.occurred_at == at(120)


def test_steady_lag_tells_a_slow_clock_from_a_backlog() -> None:
    tuning = Tuning()
    t0 = datetime(2026, 3, 18, 11, 0, tzinfo=UTC)
    three_hours = 3 * 3600.0
    # the same 3 h lag a minute later: a slow clock
    assert device_clock.steady_lag((t0, three_hours), t0 + timedelta(minutes=1), three_hours + 1.0, tuning)
    # a backlog sent a fix per message: a second later, the lag 59 s shorter
    assert not device_clock.steady_lag(
        (t0, three_hours), t0 + timedelta(seconds=1), three_hours - 59.0, tuning
    )
    # a lag within what a late report may have: not a clock at all
    assert not device_clock.steady_lag((t0, 200.0), t0 + timedelta(minutes=1), 200.0, tuning)
    # nothing to compare with: the first report is taken at its word
    assert not device_clock.steady_lag(None, t0, three_hours, tuning)
