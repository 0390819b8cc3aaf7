from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.domain.model import WEEKDAYS, Schedule, ScheduleWindow, Weekday
from vigil.domain.schedule import is_active, next_change

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TICK = timedelta(microseconds=1)


def window(days: str, start: str, end: str) -> ScheduleWindow:
    """window("mon fri", "22:00", "06:00"); days "*" means every day."""
    names = WEEKDAYS if days == "*" else tuple(Weekday(d) for d in days.split())
    return ScheduleWindow(frozenset(names), time.fromisoformat(start), time.fromisoformat(end))


def schedule(tz: str, *windows: ScheduleWindow) -> Schedule:
    return Schedule(windows=windows, timezone=tz)


def local(
    tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=tz, fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


CURFEW_SEOUL = schedule("Asia/Seoul", window("*", "22:00", "06:00"))
CURFEW_BERLIN = schedule("Europe/Berlin", window("*", "22:00", "06:00"))


# --- is_active ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (local(SEOUL, 2026, 5, 11, 21, 59), False),
        (local(SEOUL, 2026, 5, 11, 22, 0), True),
        (local(SEOUL, 2026, 5, 11, 23, 0), True),
        (local(SEOUL, 2026, 5, 12, 0, 0), True),
        (local(SEOUL, 2026, 5, 12, 5, 59), True),
        (local(SEOUL, 2026, 5, 12, 5, 59, 59, 999_999), True),
        (local(SEOUL, 2026, 5, 12, 6, 0), False),
        (local(SEOUL, 2026, 5, 12, 12, 0), False),
    ],
)
def test_curfew_across_midnight(when: datetime, expected: bool) -> None:
    assert is_active(CURFEW_SEOUL, when) is expected
    # The same instant in UTC, or any other zone, gives the same answer.
    assert is_active(CURFEW_SEOUL, when.astimezone(UTC)) is expected
    assert is_active(CURFEW_SEOUL, when.astimezone(NEW_YORK)) is expected


def test_days_name_the_day_the_window_starts() -> None:
    friday_nights = schedule("Asia/Seoul", window("fri", "22:00", "06:00"))
    assert local(SEOUL, 2026, 5, 15).weekday() == 4  # a Friday
    assert is_active(friday_nights, local(SEOUL, 2026, 5, 15, 23, 0))
    assert is_active(friday_nights, local(SEOUL, 2026, 5, 16, 3, 0))
    assert not is_active(friday_nights, local(SEOUL, 2026, 5, 16, 6, 0))
    assert not is_active(friday_nights, local(SEOUL, 2026, 5, 16, 23, 0))
    assert not is_active(friday_nights, local(SEOUL, 2026, 5, 15, 3, 0))
    assert not is_active(friday_nights, local(SEOUL, 2026, 5, 14, 23, 0))


def test_daytime_window_only_on_its_days() -> None:
    school = schedule("Asia/Seoul", window("mon tue wed thu fri", "08:00", "16:30"))
    assert is_active(school, local(SEOUL, 2026, 5, 11, 8, 0))
    assert is_active(school, local(SEOUL, 2026, 5, 15, 16, 29))
    assert not is_active(school, local(SEOUL, 2026, 5, 15, 16, 30))
    assert not is_active(school, local(SEOUL, 2026, 5, 11, 7, 59))
    assert not is_active(school, local(SEOUL, 2026, 5, 16, 10, 0))


def test_equal_start_and_end_is_a_full_day_from_start() -> None:
    monday = schedule("Asia/Seoul", window("mon", "08:00", "08:00"))
    assert not is_active(monday, local(SEOUL, 2026, 5, 11, 7, 59))
    assert is_active(monday, local(SEOUL, 2026, 5, 11, 8, 0))
    assert is_active(monday, local(SEOUL, 2026, 5, 12, 7, 59))
    assert not is_active(monday, local(SEOUL, 2026, 5, 12, 8, 0))
    assert next_change(monday, local(SEOUL, 2026, 5, 11, 9, 0)) == local(SEOUL, 2026, 5, 12, 8, 0)


def test_window_ending_at_midnight() -> None:
    evening = schedule("Asia/Seoul", window("mon", "20:00", "00:00"))
    assert is_active(evening, local(SEOUL, 2026, 5, 11, 23, 59, 59))
    assert not is_active(evening, local(SEOUL, 2026, 5, 12, 0, 0))
    assert next_change(evening, local(SEOUL, 2026, 5, 11, 21, 0)) == local(SEOUL, 2026, 5, 12, 0, 0)


def test_no_schedule_or_no_windows_is_always_active() -> None:
    at = utc(2026, 5, 11, 12, 0)
    assert is_active(None, at)
    assert is_active(schedule("Asia/Seoul"), at)


def test_window_with_no_days_is_never_active() -> None:
    never = schedule("Asia/Seoul", ScheduleWindow(frozenset(), time(0, 0), time(0, 0)))
    assert not is_active(never, utc(2026, 5, 11, 12, 0))
    assert next_change(never, utc(2026, 5, 11, 12, 0)) is None


def test_plain_string_days_are_accepted() -> None:
    sched = schedule("Asia/Seoul", ScheduleWindow(frozenset({"mon"}), time(9), time(10)))  # type: ignore[arg-type]
    assert is_active(sched, local(SEOUL, 2026, 5, 11, 9, 30))


def test_naive_datetimes_raise() -> None:
    naive = datetime(2026, 5, 11, 23, 0)
    for sched in (CURFEW_SEOUL, None, schedule("Asia/Seoul")):
        with pytest.raises(ValueError, match="timezone-aware"):
            is_active(sched, naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            next_change(sched, naive)


# --- next_change ----------------------------------------------------------------------------------


def test_next_change_of_a_curfew() -> None:
    assert next_change(CURFEW_SEOUL, local(SEOUL, 2026, 5, 11, 21, 0)) == local(SEOUL, 2026, 5, 11, 22, 0)
    assert next_change(CURFEW_SEOUL, local(SEOUL, 2026, 5, 11, 23, 0)) == local(SEOUL, 2026, 5, 12, 6, 0)


def test_next_change_is_utc_and_strictly_after() -> None:
    at_boundary = local(SEOUL, 2026, 5, 11, 22, 0)
    change = next_change(CURFEW_SEOUL, at_boundary)
    assert change == local(SEOUL, 2026, 5, 12, 6, 0)
    assert change is not None
    assert change.tzinfo is UTC
    assert next_change(CURFEW_SEOUL, at_boundary - TICK) == at_boundary


def test_next_change_is_independent_of_the_zone_the_instant_is_given_in() -> None:
    at = local(SEOUL, 2026, 5, 11, 21, 0)
    expected = next_change(CURFEW_SEOUL, at)
    assert next_change(CURFEW_SEOUL, at.astimezone(UTC)) == expected
    assert next_change(CURFEW_SEOUL, at.astimezone(NEW_YORK)) == expected


@pytest.mark.parametrize(
    "sched",
    [
        None,
        schedule("Asia/Seoul"),
        schedule("Asia/Seoul", window("*", "00:00", "00:00")),
        schedule("Europe/Berlin", window("*", "07:00", "07:00")),
        schedule("Europe/Berlin", window("*", "00:00", "12:00"), window("*", "12:00", "00:00")),
        schedule(
            "America/New_York",
            window("mon wed fri sun", "02:30", "02:30"),
            window("tue thu sat", "01:00", "03:00"),
            window("tue thu sat", "02:00", "02:30"),
            window("tue thu sat", "03:00", "02:30"),
        ),
    ],
)
def test_always_active_schedules_never_change(sched: Schedule | None) -> None:
    for at in (utc(2026, 5, 11, 12, 0), utc(2026, 3, 7, 12, 0), utc(2026, 10, 31, 12, 0)):
        for hours in range(0, 24 * 8, 5):
            assert is_active(sched, at + timedelta(hours=hours))
        assert next_change(sched, at) is None


def test_adjacent_and_overlapping_windows_merge() -> None:
    sched = schedule(
        "Asia/Seoul",
        window("mon", "20:00", "22:00"),
        window("mon", "22:00", "23:00"),
        window("mon", "22:30", "01:00"),
        window("tue", "00:30", "02:00"),
    )
    assert next_change(sched, local(SEOUL, 2026, 5, 11, 19, 0)) == local(SEOUL, 2026, 5, 11, 20, 0)
    assert next_change(sched, local(SEOUL, 2026, 5, 11, 20, 30)) == local(SEOUL, 2026, 5, 12, 2, 0)
    assert next_change(sched, local(SEOUL, 2026, 5, 12, 2, 0)) == local(SEOUL, 2026, 5, 18, 20, 0)


def test_next_change_a_week_ahead() -> None:
    weekly = schedule("Asia/Seoul", window("wed", "10:00", "11:00"))
    after = local(SEOUL, 2026, 5, 13, 11, 0)  # a Wednesday, just as the window closes
    assert next_change(weekly, after) == local(SEOUL, 2026, 5, 20, 10, 0)


# --- daylight saving time -------------------------------------------------------------------------


def test_berlin_curfew_on_the_spring_forward_night() -> None:
    # 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00 UTC); the curfew night is an hour shorter.
    assert is_active(CURFEW_BERLIN, local(BERLIN, 2026, 3, 28, 22, 0))
    assert is_active(CURFEW_BERLIN, utc(2026, 3, 29, 0, 59))  # 01:59 CET
    assert is_active(CURFEW_BERLIN, utc(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert is_active(CURFEW_BERLIN, local(BERLIN, 2026, 3, 29, 5, 59))
    assert not is_active(CURFEW_BERLIN, local(BERLIN, 2026, 3, 29, 6, 0))
    change = next_change(CURFEW_BERLIN, local(BERLIN, 2026, 3, 28, 23, 0))
    assert change == utc(2026, 3, 29, 4, 0)  # 06:00 CEST
    assert change - local(BERLIN, 2026, 3, 28, 22, 0) == timedelta(hours=7)


def test_berlin_curfew_on_the_fall_back_night() -> None:
    # 2026-10-25 03:00 CEST falls back to 02:00 CET (01:00 UTC); the curfew night is an hour longer.
    assert is_active(CURFEW_BERLIN, utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    assert is_active(CURFEW_BERLIN, utc(2026, 10, 25, 1, 30))  # 02:30 CET
    change = next_change(CURFEW_BERLIN, local(BERLIN, 2026, 10, 24, 23, 0))
    assert change == utc(2026, 10, 25, 5, 0)  # 06:00 CET
    assert change - local(BERLIN, 2026, 10, 24, 22, 0) == timedelta(hours=9)


def test_boundary_in_the_spring_forward_gap_takes_effect_at_the_jump() -> None:
    starts_in_gap = schedule("Europe/Berlin", window("sun", "02:30", "04:00"))
    assert not is_active(starts_in_gap, utc(2026, 3, 29, 1, 0) - TICK)  # 01:59:59.999999 CET
    assert is_active(starts_in_gap, utc(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert next_change(starts_in_gap, utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 0)
    assert next_change(starts_in_gap, utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 2, 0)  # 04:00 CEST

    ends_in_gap = schedule("Europe/Berlin", window("sat", "22:00", "02:30"))
    assert is_active(ends_in_gap, utc(2026, 3, 29, 1, 0) - TICK)
    assert not is_active(ends_in_gap, utc(2026, 3, 29, 1, 0))
    assert next_change(ends_in_gap, utc(2026, 3, 28, 22, 0)) == utc(2026, 3, 29, 1, 0)

    # A window lying wholly inside the gap never happens.
    inside_gap = schedule("Europe/Berlin", window("sun", "02:10", "02:50"))
    for minutes in range(0, 240, 7):
        assert not is_active(inside_gap, utc(2026, 3, 28, 23, 0) + timedelta(minutes=minutes))
    change = next_change(inside_gap, utc(2026, 3, 28, 12, 0))
    assert change == local(BERLIN, 2026, 4, 5, 2, 10)


def test_boundary_in_the_fall_back_fold_takes_effect_at_its_first_showing() -> None:
    starts_in_fold = schedule("Europe/Berlin", window("sun", "02:30", "06:00"))
    assert not is_active(starts_in_fold, utc(2026, 10, 25, 0, 29))  # 02:29 CEST
    assert is_active(starts_in_fold, utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    # The repeated hour does not switch it off, even when the clock reads 02:00-02:29 again.
    for minutes in range(0, 60, 5):
        assert is_active(starts_in_fold, utc(2026, 10, 25, 1, minutes))
    assert next_change(starts_in_fold, utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 25, 0, 30)
    assert next_change(starts_in_fold, utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 25, 5, 0)

    ends_in_fold = schedule("Europe/Berlin", window("sat", "22:00", "02:30"))
    assert is_active(ends_in_fold, utc(2026, 10, 25, 0, 29))
    assert not is_active(ends_in_fold, utc(2026, 10, 25, 0, 30))
    assert not is_active(ends_in_fold, utc(2026, 10, 25, 1, 15))  # 02:15 again, but already over
    assert next_change(ends_in_fold, utc(2026, 10, 24, 21, 0)) == utc(2026, 10, 25, 0, 30)


def test_fold_flag_on_a_window_time_is_ignored() -> None:
    # time(2, 30, fold=1) equals time(2, 30); it must not select the second showing of 02:30.
    sched = schedule("Europe/Berlin", ScheduleWindow(frozenset({Weekday.SUN}), time(2, 30, fold=1), time(6)))
    assert next_change(sched, utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 25, 0, 30)
    assert is_active(sched, utc(2026, 10, 25, 0, 30))


def test_new_york_window_inside_the_repeated_hour_happens_once() -> None:
    # 2026-11-01 02:00 EDT falls back to 01:00 EST (06:00 UTC).
    brief = schedule("America/New_York", window("sun", "01:30", "01:45"))
    assert is_active(brief, local(NEW_YORK, 2026, 11, 1, 1, 40, fold=0))
    assert not is_active(brief, local(NEW_YORK, 2026, 11, 1, 1, 40, fold=1))
    assert next_change(brief, utc(2026, 11, 1, 0, 0)) == utc(2026, 11, 1, 5, 30)
    assert next_change(brief, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 5, 45)
    assert next_change(brief, utc(2026, 11, 1, 5, 45)) == local(NEW_YORK, 2026, 11, 8, 1, 30)


def test_new_york_curfew_across_spring_forward() -> None:
    curfew = schedule("America/New_York", window("sat", "23:00", "07:00"))
    change = next_change(curfew, local(NEW_YORK, 2026, 3, 7, 23, 30))
    assert change == local(NEW_YORK, 2026, 3, 8, 7, 0)
    assert change == utc(2026, 3, 8, 11, 0)


def test_day_skipped_by_a_time_zone_change() -> None:
    # Samoa skipped Friday 2011-12-30 entirely; a Friday window that year simply did not happen.
    apia = ZoneInfo("Pacific/Apia")
    fridays = schedule("Pacific/Apia", window("fri", "09:00", "17:00"))
    change = next_change(fridays, local(apia, 2011, 12, 27, 12, 0))
    assert change == local(apia, 2012, 1, 6, 9, 0)
    assert not is_active(fridays, utc(2011, 12, 30, 10, 0))


# --- properties -----------------------------------------------------------------------------------

ZONES = {
    "Asia/Seoul": [utc(2026, 5, 11, 0, 0)],
    "UTC": [utc(2026, 5, 11, 0, 0)],
    "Europe/Berlin": [utc(2026, 3, 29, 1, 0), utc(2026, 10, 25, 1, 0)],
    "America/New_York": [utc(2026, 3, 8, 7, 0), utc(2026, 11, 1, 6, 0)],
    # Half-hour DST shift.
    "Australia/Lord_Howe": [utc(2026, 4, 4, 15, 0), utc(2026, 10, 3, 15, 30)],
    # Transitions at local midnight, so the repeated or skipped hour straddles a date change.
    "America/Santiago": [utc(2026, 4, 5, 3, 0), utc(2026, 9, 6, 4, 0)],
    "Pacific/Apia": [utc(2011, 12, 30, 10, 0)],
}

interesting_times = st.one_of(
    st.sampled_from([time(h, m) for h in (0, 1, 2, 3, 22, 23) for m in (0, 15, 30, 45)]),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    st.times(),
)

windows = st.builds(
    ScheduleWindow,
    days=st.frozensets(st.sampled_from(WEEKDAYS)),
    start=interesting_times,
    end=interesting_times,
)


@st.composite
def schedules_and_instants(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    tz = draw(st.sampled_from(sorted(ZONES)))
    sched = Schedule(windows=tuple(draw(st.lists(windows, min_size=1, max_size=4))), timezone=tz)
    anchor = draw(st.sampled_from(ZONES[tz]))
    offset = draw(st.integers(min_value=-3 * 86_400_000_000, max_value=3 * 86_400_000_000))
    if draw(st.booleans()):
        offset -= offset % 60_000_000  # land on whole minutes, where boundaries sit
    return sched, anchor + timedelta(microseconds=offset)


@settings(max_examples=300)
@given(schedules_and_instants())
def test_is_active_flips_exactly_at_next_change(case: tuple[Schedule, datetime]) -> None:
    sched, t = case
    state = is_active(sched, t)
    assert is_active(sched, t.astimezone(NEW_YORK)) is state
    change = next_change(sched, t)
    if change is None:
        for hours in (1, 7, 30, 80, 150, 200):
            assert is_active(sched, t + timedelta(hours=hours)) is state
        return
    assert change > t
    assert change.utcoffset() == timedelta(0)
    assert change - t <= timedelta(days=16)
    assert is_active(sched, change) is not state
    assert is_active(sched, change - TICK) is state
    span = change - t
    for k in range(1, 8):
        assert is_active(sched, t + span * k // 8) is state


@pytest.mark.parametrize(("tz", "anchor"), [(tz, a) for tz, anchors in ZONES.items() for a in anchors])
def test_minute_by_minute_walk_agrees_with_next_change(tz: str, anchor: datetime) -> None:
    sched = Schedule(
        windows=(
            window("*", "01:30", "02:30"),
            window("sat sun", "22:30", "00:30"),
            window("mon tue wed thu fri", "02:15", "03:00"),
            window("sun", "23:45", "23:59"),
        ),
        timezone=tz,
    )
    t = anchor - timedelta(days=2)
    stop = anchor + timedelta(days=2)
    change = next_change(sched, t)
    state = is_active(sched, t)
    flips = 0
    while t < stop:
        t += timedelta(minutes=1)
        now = is_active(sched, t)
        assert change is not None
        if t < change:
            assert now is state, f"flipped at {t} before next_change {change}"
        else:
            assert t == change, f"minute grid skipped past {change}"
            assert now is not state
            state = now
            change = next_change(sched, t)
            flips += 1
    assert flips >= 4
